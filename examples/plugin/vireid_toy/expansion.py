"""An expansion module: K generated embeddings, each a per-channel scale of the tokens plus a linear
mix of their channels, ``g_k = s_k * x + x W_k``.  The rest -- pooling, DEEN's orthogonal loss
between the K embeddings, the concatenation along the batch -- is vireid's
(:class:`~vireid.models.expansion.BranchExpansion`).  Works in DEEN-ViT (``model.args.expansion:
toy_mix``) and in any model that builds its expansion by name."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor, nn

from vireid.core.params import POSITIVE, Range
from vireid.models.base import declared_config
from vireid.models.expansion import BranchExpansion, register_expansion


@register_expansion("toy_mix")
class ToyMix(BranchExpansion):
    """See the module docstring; ``init_scale`` starts every ``s_k``."""

    def __init__(
        self,
        dim: Annotated[int, Range(1)],
        num_generated: Annotated[int, Range(1, 8)] = 2,
        init_scale: Annotated[float, POSITIVE] = 1.0,
    ) -> None:
        super().__init__()
        declared_config(ToyMix, locals())
        self.dim, self.num_generated = dim, num_generated
        self.scale = nn.Parameter(torch.full((num_generated, dim), float(init_scale)))
        self.mix = nn.Parameter(torch.randn(num_generated, dim, dim) * dim**-0.5)

    def generate(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None) -> Tensor:
        scaled = tokens.unsqueeze(0) * self.scale[:, None, None, :]  # (K, B, N, C)
        return scaled + torch.einsum("bnc,kcd->kbnd", tokens, self.mix)
