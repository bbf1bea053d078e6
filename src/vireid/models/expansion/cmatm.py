"""CM-ATM: cross-modal adaptive token mixing (docs/deen_vit.md, "CM-ATM").

Each of K branches (separate parameters) owns a learnable visible token and a learnable infrared
token.  The token of each sample's modality queries the sample's patch tokens by multi-head
cross-attention; the resulting per-sample context ``c_k`` (B, 1, C) mixes the tokens adaptively:

    c_k   = MHCA_k(query = LN(m_k[modality]), keys/values = LN(x))                 (B, 1, C)
    [a_k, r_k] = W_k c_k + b_k                                                        (B, 1, 2C)
    g_k   = Dropout( LayerNorm_k( x * sigmoid(a_k) + r_k ) * s_k )                   (B, N, C)

The per-channel gate ``sigmoid(a_k)`` and the residual projection ``r_k`` are broadcast over the N
tokens explicitly: one context vector per sample acts on all of its tokens, and each branch has
its own parameters (branches sharing one attention would be identical).

Choices (the reasons are in docs/deen_vit.md):

* **Modality tokens per branch** (K, 2, C), trunc-normal(0.02).  ``modality`` is (B,) with
  1 visible / 2 infrared (``vireid.models.base.MODAL_*``); it works for any mix (training: both;
  test: all 1 or all 2).
  ``modality=None`` (unknown) uses the mean of each branch's two tokens.
* **Pre-norm**: queries and keys/values are projected from a parameter-free LayerNorm of the
  modality tokens and of the patch tokens (an affine would be absorbed by the projections); without
  it the 0.02-scale modality tokens would give near-uniform attention at the start.  The
  attention's output projection is merged into ``W_k`` (two consecutive linear maps would be
  redundant).
* **Multi-head**: 8 heads by default.
* **Dropout** (p = 0.1) on the generated embeddings only; the input passes unchanged.
* ``aux_losses["ort"]``: DEEN's orthogonal loss between the pooled generated embeddings, see
  :func:`vireid.models.expansion.tmhee.branch_orthogonal_loss`.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.core.params import AT_LEAST_1, UNIT_OPEN
from vireid.errors import ConfigError
from vireid.models.base import MODAL_VISIBLE, declared_config
from vireid.models.expansion.base import BranchExpansion, check_modality, register_expansion
from vireid.models.expansion.tmhee import BranchLayerNorm, BranchLinear, branch_attention


@register_expansion("cmatm")
class CMATM(BranchExpansion):
    """CM-ATM: per-branch modality tokens cross-attend to the patch tokens and gate them.

    Args:
        dim: token channels C.
        num_generated: K (DEEN: 2).
        num_heads: cross-attention heads (default 8); must divide ``dim``.
        dropout: dropout on the generated embeddings.
        attn_drop: dropout on the attention weights.
        ort_absolute: see :func:`~vireid.models.expansion.tmhee.branch_orthogonal_loss`.
    """

    def __init__(
        self,
        dim: Annotated[int, AT_LEAST_1],
        num_generated: Annotated[int, AT_LEAST_1] = 2,
        num_heads: Annotated[int, AT_LEAST_1] = 8,
        dropout: Annotated[float, UNIT_OPEN] = 0.1,
        attn_drop: Annotated[float, UNIT_OPEN] = 0.0,
        ort_absolute: bool = True,
    ) -> None:
        super().__init__()
        declared_config(CMATM, locals())
        if dim % num_heads:
            raise ConfigError(f"CMATM: num_heads={num_heads} must divide dim={dim}")
        self.dim, self.num_generated, self.num_heads = dim, num_generated, num_heads
        self.attn_drop, self.ort_absolute = attn_drop, ort_absolute
        self.modality_tokens = nn.Parameter(torch.empty(num_generated, 2, dim))  # [k, visible/infrared]
        nn.init.trunc_normal_(self.modality_tokens, std=0.02)
        self.q = BranchLinear(num_generated, dim, dim)
        self.kv = BranchLinear(num_generated, dim, 2 * dim)
        self.mix = BranchLinear(num_generated, dim, 2 * dim)  # -> gate logits, residual
        self.norm = BranchLayerNorm(num_generated, dim, eps=1e-5)
        self.scale = nn.Parameter(torch.ones(num_generated))
        self.drop = nn.Dropout(dropout)

    def queries(self, modality: Tensor | None, batch: int) -> Tensor:
        """The modality token of each sample for each branch, (K, B, 1, C)."""
        t = self.modality_tokens
        if modality is None:
            return t.mean(dim=1)[:, None, None, :].expand(-1, batch, 1, -1)
        return t[:, modality.long() - MODAL_VISIBLE].unsqueeze(2)  # codes 1, 2 -> token 0, 1

    def generate(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None) -> Tensor:
        b, n, c = tokens.shape
        k = self.num_generated
        if modality is not None:
            check_modality(modality, b)
        q = self.q(F.layer_norm(self.queries(modality, b), (c,)))  # (K, B, 1, C)
        key, v = self.kv.forward_shared(F.layer_norm(tokens, (c,))).split(c, dim=-1)  # (K, B, N, C) each
        ctx = branch_attention(q, key, v, self.num_heads, self.attn_drop if self.training else 0.0)
        gate, res = self.mix(ctx).split(c, dim=-1)  # (K, B, 1, C) each
        mixed = tokens.unsqueeze(0) * torch.sigmoid(gate) + res  # broadcast over N
        return self.drop(self.norm(mixed) * self.scale.view(k, 1, 1, 1))  # (K, B, N, C)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_generated={self.num_generated}, num_heads={self.num_heads}"
