"""SS-DEC: self-supervised diverse embeddings with contrastive learning (docs/deen_vit.md, "SS-DEC").

K branches, each one pre-norm Transformer encoder layer, see differently augmented views of the
tokens and generate K embeddings; a cross-modal InfoNCE on the pooled embeddings (visible and
infrared embeddings of the same identity are positives) is computed *outside* forward with the
labels (:func:`vireid.losses.infonce.branch_infonce`, on ``ExpansionOutput.branch_embeddings``),
and DEEN's orthogonal loss between the branches is returned as
``aux_losses["ort"]``.  Per branch k:

    v_k = x * m_k               m_k ~ Bernoulli(1 - p) per token (training only; p = 0.3)
    h_k = v_k D_k                (B, N, d)     d = C // K by default
    h_k = h_k + MHSA_k(LN(h_k));  h_k = h_k + MLP_k(LN(h_k))     (one encoder layer)
    g_k = Dropout( LayerNorm_k( h_k F_k + f_k ) * s_k )          (B, N, C)   "fused back to C"

Choices (the reasons are in docs/deen_vit.md):

* **Augmentation** is random *token* masking (whole tokens set to zero, p = 0.3, a fresh mask per
  step), not element-wise masking (which is dropout); only in training -- at eval the
  branches see the clean tokens, so eval is deterministic.  Each branch draws its masks from its own
  CPU ``torch.Generator`` (``random_generators``), seeded with ``seed + k``; with ``seed=None`` the
  base seed is drawn once from torch's global RNG (so ``torch.manual_seed`` controls it).  The
  generators are not weights (not in the ``state_dict``): :meth:`ReIDModel.rng_generators`
  hands them to the training run, which re-seeds them per rank under DDP
  (:mod:`vireid.engine.run`), and the trainer saves and restores them with its other RNG states
  (exact resume).
* **Width**: each branch works at ``branch_dim`` (default ``C // K``) between a bias-free
  down-projection ``D_k`` (so masked tokens stay exactly zero) and the fusing up-projection
  ``F_k`` back to C channels.  DEEN needs K embeddings, not one concatenation of the branches,
  so each branch is fused back to C on its own.
* **Loss**: the supervised, cross-modal InfoNCE of :class:`vireid.losses.InfoNCE` per branch,
  averaged over the branches.
* **Dropout** (p = 0.1) on the generated embeddings only; the input passes unchanged.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.core.params import AT_LEAST_1, POSITIVE, UNIT_OPEN, Range
from vireid.errors import ConfigError
from vireid.models.base import declared_config
from vireid.models.expansion.base import BranchExpansion, register_expansion
from vireid.models.expansion.tmhee import BranchLayerNorm, BranchLinear, branch_attention


@register_expansion("ssdec")
class SSDEC(BranchExpansion):
    """SS-DEC: K masked-view Transformer-layer branches generating K embeddings.

    Args:
        dim: token channels C.
        num_generated: K (DEEN: 2).
        num_heads: heads of each branch's attention (default 8); must divide ``branch_dim``.
        branch_dim: width d of each branch's encoder layer (default ``dim // num_generated``).
        mlp_ratio: MLP hidden width / d.
        mask_ratio: probability p that a token is masked in a training view.
        dropout: dropout on the generated embeddings.
        attn_drop: dropout on the attention weights.
        seed: base seed of the per-branch mask generators (None: drawn from torch's global RNG).
        ort_absolute: see :func:`~vireid.models.expansion.tmhee.branch_orthogonal_loss`.
    """

    def __init__(
        self,
        dim: Annotated[int, AT_LEAST_1],
        num_generated: Annotated[int, AT_LEAST_1] = 2,
        num_heads: Annotated[int, AT_LEAST_1] = 8,
        branch_dim: Annotated[int | None, AT_LEAST_1] = None,
        mlp_ratio: Annotated[float, POSITIVE] = 4.0,
        mask_ratio: Annotated[float, UNIT_OPEN] = 0.3,
        dropout: Annotated[float, UNIT_OPEN] = 0.1,
        attn_drop: Annotated[float, UNIT_OPEN] = 0.0,
        seed: Annotated[int | None, Range(0, 2**63, hi_open=True)] = None,
        ort_absolute: bool = True,
    ) -> None:
        super().__init__()
        declared_config(SSDEC, locals())
        d = dim // num_generated if branch_dim is None else branch_dim
        if d < 1 or d % num_heads:
            raise ConfigError(f"SSDEC: num_heads={num_heads} must divide branch_dim={d}")
        k, hidden = num_generated, int(d * mlp_ratio)
        self.dim, self.num_generated, self.num_heads, self.branch_dim = dim, k, num_heads, d
        self.mask_ratio, self.attn_drop, self.seed, self.ort_absolute = mask_ratio, attn_drop, seed, ort_absolute
        self.down = BranchLinear(k, dim, d, bias=False)
        self.norm1 = BranchLayerNorm(k, d)
        self.qkv = BranchLinear(k, d, 3 * d)
        self.proj = BranchLinear(k, d, d)
        self.norm2 = BranchLayerNorm(k, d)
        self.fc1 = BranchLinear(k, d, hidden)
        self.fc2 = BranchLinear(k, hidden, d)
        self.fuse = BranchLinear(k, d, dim)
        self.norm = BranchLayerNorm(k, dim, eps=1e-5)
        self.scale = nn.Parameter(torch.ones(k))
        self.drop = nn.Dropout(dropout)
        base = seed if seed is not None else int(torch.randint(0, 2**31, ()).item())
        # one CPU generator per branch; masks are drawn on the CPU and moved to the tokens' device, so
        # the streams do not depend on the device, and the trainer saves them with its RNG states
        self.random_generators = [torch.Generator().manual_seed(base + i) for i in range(k)]

    def __getstate__(self) -> dict:  # torch.Generator is not picklable: keep its state instead
        state = self.__dict__.copy()
        state["random_generators"] = [g.get_state() for g in self.random_generators]
        return state

    def __setstate__(self, state: dict) -> None:
        gens = []
        for st in state["random_generators"]:
            g = torch.Generator()
            g.set_state(st)
            gens.append(g)
        self.__dict__.update({**state, "random_generators": gens})

    def token_masks(self, batch: int, num_tokens: int, device: torch.device) -> Tensor:
        """Keep-masks of the K training views, (K, B, N) bool (True = token kept); advances the generators."""
        masks = torch.stack(
            [torch.rand(batch, num_tokens, generator=g) >= self.mask_ratio for g in self.random_generators]
        )
        return masks.to(device)

    def generate(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None) -> Tensor:
        b, n, c = tokens.shape
        k, d = self.num_generated, self.branch_dim
        h = self.down.forward_shared(tokens)  # (K, B, N, d)
        if self.training and self.mask_ratio > 0:
            h = h * self.token_masks(b, n, tokens.device).unsqueeze(-1).to(h.dtype)
        q, key, v = self.qkv(self.norm1(h)).split(d, dim=-1)
        h = h + self.proj(branch_attention(q, key, v, self.num_heads, self.attn_drop if self.training else 0.0))
        h = h + self.fc2(F.gelu(self.fc1(self.norm2(h))))
        return self.drop(self.norm(self.fuse(h)) * self.scale.view(k, 1, 1, 1))  # (K, B, N, C)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_generated={self.num_generated}, branch_dim={self.branch_dim}, "
            f"num_heads={self.num_heads}, mask_ratio={self.mask_ratio}, seed={self.seed}"
        )
