"""T-MHEE: Transformer-based multi-head embedding expansion (docs/deen_vit.md, "T-MHEE").

DEEN (Zhang & Wang, CVPR 2023, DEE module) expands one embedding into ``1 + K`` with K convolutional
branches.  T-MHEE replaces each branch by multi-head self-attention over the patch tokens:

    g_k = Dropout( LayerNorm_k( MHSA_k(LN(x)) + x ) * s_k ),      k = 1..K

and regularises the branches with DEEN's orthogonal loss (and, optionally, a token-level
orthogonality loss).  Choices (the reasons are in docs/deen_vit.md):

* **K separate branches, one batched pass.**  One multi-head attention returns a single
  embedding; DEEN needs K generated embeddings with separate parameters.  The
  K branches' weights are stacked (:class:`BranchLinear`) so the qkv projection of all branches is
  one matmul of the shared input, and the attention runs once through
  ``F.scaled_dot_product_attention`` with the branch folded into the batch.
* **Parameter-free pre-norm.**  q/k/v are computed from ``LayerNorm(x)`` without affine parameters
  (the affine would be absorbed by the qkv projection), because the stage-3 ViT tokens are the
  un-normalised residual stream; the residual and the post-norm are
  ``LayerNorm(MHA(x) + x)`` on the raw tokens.
* **Initialisation** as ``nn.MultiheadAttention``: Xavier-uniform qkv weight,
  default ``nn.Linear`` init for the output projection, zero biases, LayerNorm (1, 0), scale 1.
* **Dropout** (p = 0.1) acts on the generated embeddings only, so the first
  chunk of the output is the input unchanged (DEEN drops out all three with p = 0.01; we keep the
  original embedding clean so that K = 0 / "none" and T-MHEE agree on it).
* **Losses** (``aux_losses``, unweighted): ``"ort"`` is DEEN's orthogonal loss between the
  token-pooled generated embeddings (see :func:`branch_orthogonal_loss`);
  ``"token_ort"`` (``token_ortho=True``) is the token-level loss
  :func:`vireid.losses.token_orthogonality.token_orthogonality_loss` on the generated tokens.
* ``modality`` is accepted for the common interface and not used.

The batched helpers (:class:`BranchLinear`, :class:`BranchLayerNorm`, :func:`branch_attention`,
:func:`branch_orthogonal_loss`) are shared with CM-ATM and SS-DEC.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.core.params import AT_LEAST_1, UNIT_OPEN, Range
from vireid.errors import ConfigError
from vireid.losses.token_orthogonality import token_orthogonality_loss
from vireid.models.base import declared_config
from vireid.models.expansion.base import BranchExpansion, register_expansion

# ----------------------------------------------------------------------------- batched helpers


class BranchLinear(nn.Module):
    """K independent linear maps ``y_k = x_k W_k^T + b_k`` evaluated as one batched matmul.

    ``forward(x)`` takes per-branch inputs ``(K, ..., in)``; ``forward_shared(x)`` applies all K maps
    to one shared input ``(..., in)`` with a single ``(M, in) x (in, K*out)`` matmul.  Both return
    ``(K, ..., out)``.  Default init is ``nn.Linear``'s (Kaiming-uniform, a = sqrt(5)) per branch,
    biases zero.
    """

    def __init__(self, branches: int, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.branches, self.in_features, self.out_features = branches, in_features, out_features
        self.weight = nn.Parameter(torch.empty(branches, out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(branches, out_features)) if bias else None
        for w in self.weight:
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))

    def forward(self, x: Tensor) -> Tensor:
        k, lead = x.shape[0], x.shape[1:-1]
        flat = x.reshape(k, -1, self.in_features)
        wt = self.weight.transpose(1, 2)
        y = torch.bmm(flat, wt) if self.bias is None else torch.baddbmm(self.bias[:, None, :], flat, wt)
        return y.reshape(k, *lead, self.out_features)

    def forward_shared(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        y = x.reshape(-1, self.in_features) @ self.weight.reshape(-1, self.in_features).t()  # (M, K*out)
        y = y.reshape(-1, self.branches, self.out_features).transpose(0, 1)  # (K, M, out)
        if self.bias is not None:
            y = y + self.bias[:, None, :]
        return y.reshape(self.branches, *lead, self.out_features)

    def extra_repr(self) -> str:
        return (
            f"branches={self.branches}, in_features={self.in_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class BranchLayerNorm(nn.Module):
    """K LayerNorms over the last dim with separate affine parameters, on ``(K, ..., C)`` inputs."""

    def __init__(self, branches: int, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(branches, dim))
        self.bias = nn.Parameter(torch.zeros(branches, dim))

    def forward(self, x: Tensor) -> Tensor:
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        y = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return y * self.weight.reshape(shape) + self.bias.reshape(shape)


def branch_attention(q: Tensor, k: Tensor, v: Tensor, num_heads: int, dropout_p: float = 0.0) -> Tensor:
    """Multi-head attention of K branches at once: ``q (K, B, Nq, C)``, ``k, v (K, B, Nk, C)`` ->
    ``(K, B, Nq, C)`` (heads concatenated, no output projection), via ``F.scaled_dot_product_attention``
    with the branch folded into the batch."""
    nb, b, nq, c = q.shape
    nk, hd = k.shape[2], c // num_heads

    def heads(t: Tensor, n: int) -> Tensor:
        return t.reshape(nb * b, n, num_heads, hd).transpose(1, 2)

    out = F.scaled_dot_product_attention(heads(q, nq), heads(k, nk), heads(v, nk), dropout_p=dropout_p)
    return out.transpose(1, 2).reshape(nb, b, nq, c)


# ----------------------------------------------------------------------------- T-MHEE


@register_expansion("tmhee")
class TMHEE(BranchExpansion):
    """T-MHEE: K multi-head self-attention branches generate K embeddings from the tokens.

    Args:
        dim: token channels C.
        num_generated: K, number of generated embeddings (DEEN: 2).
        num_heads: heads per branch (default 4); must divide ``dim``.
        dropout: dropout on the generated embeddings.
        attn_drop: dropout on the attention weights (``nn.MultiheadAttention``'s ``dropout``; 0 here).
        token_ortho: also return the token-level orthogonality loss as ``"token_ort"``.
        ort_absolute: see :func:`branch_orthogonal_loss`.
        token_ortho_chunk: samples per chunk of the token Gram matrices (None: automatic).
    """

    def __init__(
        self,
        dim: Annotated[int, AT_LEAST_1],
        num_generated: Annotated[int, AT_LEAST_1] = 2,
        num_heads: Annotated[int, AT_LEAST_1] = 4,
        dropout: Annotated[float, UNIT_OPEN] = 0.1,
        attn_drop: Annotated[float, UNIT_OPEN] = 0.0,
        token_ortho: bool = False,
        ort_absolute: bool = True,
        token_ortho_chunk: Annotated[int | None, Range(1)] = None,
    ) -> None:
        super().__init__()
        declared_config(TMHEE, locals())
        if dim % num_heads:
            raise ConfigError(f"TMHEE: num_heads={num_heads} must divide dim={dim}")
        self.dim, self.num_generated, self.num_heads = dim, num_generated, num_heads
        self.attn_drop = attn_drop
        self.token_ortho, self.ort_absolute, self.token_ortho_chunk = token_ortho, ort_absolute, token_ortho_chunk
        self.qkv = BranchLinear(num_generated, dim, 3 * dim)
        self.proj = BranchLinear(num_generated, dim, dim)
        self.norm = BranchLayerNorm(num_generated, dim, eps=1e-5)
        self.scale = nn.Parameter(torch.ones(num_generated))
        self.drop = nn.Dropout(dropout)
        for w in self.qkv.weight:  # nn.MultiheadAttention's in_proj init
            nn.init.xavier_uniform_(w)

    def generate(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None) -> Tensor:
        c, k = tokens.shape[2], self.num_generated
        qkv = self.qkv.forward_shared(F.layer_norm(tokens, (c,)))  # (K, B, N, 3C)
        q, key, v = qkv.split(c, dim=-1)
        attn = branch_attention(q, key, v, self.num_heads, self.attn_drop if self.training else 0.0)
        gen = self.norm(self.proj(attn) + tokens) * self.scale.view(k, 1, 1, 1)  # (K, B, N, C)
        return self.drop(gen)

    def extra_losses(self, generated: Tensor) -> dict[str, Tensor]:
        if not self.token_ortho:
            return {}
        k, b, n, c = generated.shape
        return {
            "token_ort": token_orthogonality_loss(generated.reshape(k * b, n, c), chunk_size=self.token_ortho_chunk)
        }

    @property
    def aux_loss_names(self) -> tuple[str, ...]:
        return ("ort", "token_ort") if self.token_ortho else ("ort",)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_generated={self.num_generated}, num_heads={self.num_heads}, "
            f"token_ortho={self.token_ortho}, ort_absolute={self.ort_absolute}"
        )
