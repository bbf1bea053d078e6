"""DEE on ViT tokens: DEEN's diverse embedding expansion, on the patch grid (2D) or the sequence (1D).

The CNN module on feature maps, with the authors' per-branch state-dict layout, is
:class:`vireid.models.dee.DEE`; this is its token counterpart for DEEN-ViT (same
initialisation, :func:`vireid.models.dee.init_kaiming_fan_in_`).

DEEN (Zhang & Wang, CVPR 2023, DEE module; ``DEE_module`` in the authors' ``DEEN/model.py``): each of the
K = 2 generated embeddings is ``W_1x1(ReLU(mean_d Conv3x3_dilation=d(x)))``, d in {1, 2, 3},
C -> C/4 -> C; the output is ``Dropout(cat(x, x_1, ..., x_K))`` along the batch.

* :class:`DEE2d` (``expansion="dee"``, default): the tokens reshaped to their (H, W)
  patch grid, DEEN's dilated 3x3 convolutions exactly (no bias, Kaiming fan-in init; the
  1x1 fusion with bias), dropout 0.01 over the whole expanded batch as the authors.
* :class:`DEE1d` (``expansion="dee1d"``): a Conv1d form over the token sequence (kernel 3,
  dilations 1, 2, 3), C -> C/4 -> C, times a learnable scale per generated embedding (init 1),
  keeping DEEN's expansion (3x batch); see docs/deen_vit.md, "DEE at stage 3".

Both compute all K branches in one pass: per dilation one convolution with K * C/4
outputs, then a grouped 1x1 convolution (groups = K); numerically the same as K separate
modules.  DEEN's orthogonal loss is on the *final* pooled features, so it is computed by
the model (:class:`vireid.models.deen_vit.DEENViT`), not here: ``aux_losses`` is empty.
"""

from __future__ import annotations

from typing import Annotated, Sequence

import torch
from torch import Tensor, nn

from vireid.core.params import AT_LEAST_1, UNIT_OPEN, Length
from vireid.errors import ConfigError
from vireid.models.base import declared_config
from vireid.models.dee import init_kaiming_fan_in_
from vireid.models.expansion.base import ExpansionOutput, TokenExpansion, check_tokens, register_expansion


class _DilatedExpansion(TokenExpansion):
    """Shared body of DEE2d / DEE1d; ``conv`` is ``nn.Conv2d`` or ``nn.Conv1d``."""

    conv: type[nn.Module]

    def __init__(
        self,
        dim: int,
        num_generated: int = 2,
        dilations: Sequence[int] = (1, 2, 3),
        reduction: int = 4,
        dropout: float = 0.01,
        learnable_scale: bool = False,
    ) -> None:
        super().__init__()
        if dim % reduction:
            raise ConfigError(f"{type(self).__name__}: dim {dim} is not divisible by reduction {reduction}")
        self.dim, self.num_generated, self.dilations = dim, int(num_generated), tuple(int(d) for d in dilations)
        hidden = dim // reduction
        k = self.num_generated
        self.branches = nn.ModuleList(
            self.conv(dim, k * hidden, 3, padding=d, dilation=d, bias=False) for d in self.dilations
        )
        self.fuse = self.conv(k * hidden, k * dim, 1, groups=k)
        self.scale = nn.Parameter(torch.ones(k)) if learnable_scale else None
        self.dropout = nn.Dropout(dropout)
        for m in (*self.branches, self.fuse):
            init_kaiming_fan_in_(m)

    def _to_spatial(self, tokens: Tensor, grid_size: tuple[int, int]) -> Tensor:
        raise NotImplementedError

    def forward(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None = None) -> ExpansionOutput:
        check_tokens(tokens, grid_size, self.dim)
        b, n, c = tokens.shape
        x = self._to_spatial(tokens, grid_size)  # (B, C, *spatial)
        h = sum(branch(x) for branch in self.branches) / len(self.branches)
        gen = self.fuse(torch.relu(h))  # (B, K*C, *spatial)
        gen = gen.reshape(b, self.num_generated, c, n).permute(1, 0, 3, 2)  # (K, B, N, C)
        if self.scale is not None:
            gen = gen * self.scale.view(-1, 1, 1, 1)
        out = torch.cat((tokens, gen.reshape(self.num_generated * b, n, c)), dim=0)
        return ExpansionOutput(self.dropout(out), {})

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_generated={self.num_generated}, dilations={self.dilations}"


@register_expansion("dee")
class DEE2d(_DilatedExpansion):
    """DEEN's DEE on the (H, W) patch grid (dilated 3x3 convolutions); see the module docstring."""

    conv = nn.Conv2d

    def __init__(
        self,
        dim: Annotated[int, AT_LEAST_1],
        num_generated: Annotated[int, AT_LEAST_1] = 2,
        dilations: Annotated[Sequence[int], Length(1, None), AT_LEAST_1] = (1, 2, 3),
        reduction: Annotated[int, AT_LEAST_1] = 4,
        dropout: Annotated[float, UNIT_OPEN] = 0.01,
    ) -> None:
        declared_config(DEE2d, locals())
        super().__init__(dim, num_generated, dilations, reduction, dropout, learnable_scale=False)

    def _to_spatial(self, tokens: Tensor, grid_size: tuple[int, int]) -> Tensor:
        b, n, c = tokens.shape
        return tokens.transpose(1, 2).reshape(b, c, grid_size[0], grid_size[1])


@register_expansion("dee1d")
class DEE1d(_DilatedExpansion):
    """DEE with Conv1d over the token sequence and a learnable scale; see the module docstring."""

    conv = nn.Conv1d

    def __init__(
        self,
        dim: Annotated[int, AT_LEAST_1],
        num_generated: Annotated[int, AT_LEAST_1] = 2,
        dilations: Annotated[Sequence[int], Length(1, None), AT_LEAST_1] = (1, 2, 3),
        reduction: Annotated[int, AT_LEAST_1] = 4,
        dropout: Annotated[float, UNIT_OPEN] = 0.01,
    ) -> None:
        declared_config(DEE1d, locals())
        super().__init__(dim, num_generated, dilations, reduction, dropout, learnable_scale=True)

    def _to_spatial(self, tokens: Tensor, grid_size: tuple[int, int]) -> Tensor:
        return tokens.transpose(1, 2)
