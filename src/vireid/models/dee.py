"""DEEN's diverse embedding expansion (DEE) module on CNN feature maps.

The token version for DEEN-ViT is :mod:`vireid.models.expansion.dee` (``DEE2d``/``DEE1d``).

Zhang & Wang, CVPR 2023, the DEE module (the paper's section on diverse embedding expansion;
``DEE_module`` in the authors' ``DEEN/model.py``): from a feature map ``x`` each of two
branches generates a new embedding: the mean of three 3x3 convolutions with
dilation 1, 2, 3 (``C -> C/4``, no bias), ReLU, and a 1x1 convolution back to
``C`` (with bias).  The output stacks the input and the two generated maps
along the *batch* dimension (``cat(x, b1, b2)``: 3x the batch, embedding-major)
followed by dropout (p = 0.01), as the authors' ``DEE_module``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def init_kaiming_fan_in_(conv: nn.Module) -> None:
    """The authors' ``weights_init_kaiming`` for convs: Kaiming normal, fan_in (bias untouched)."""
    nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")


class DEEBranch(nn.Module):
    """``fuse(relu(mean_d conv3x3_d(x)))`` for dilations d = 1, 2, 3."""

    def __init__(self, channels: int, dilations: tuple[int, ...] = (1, 2, 3)) -> None:
        super().__init__()
        hidden = channels // 4
        self.convs = nn.ModuleList(nn.Conv2d(channels, hidden, 3, padding=d, dilation=d, bias=False) for d in dilations)
        self.fuse = nn.Conv2d(hidden, channels, 1)
        for conv in (*self.convs, self.fuse):
            init_kaiming_fan_in_(conv)

    def forward(self, x: Tensor) -> Tensor:
        h = self.convs[0](x)
        for conv in self.convs[1:]:
            h = h + conv(x)
        return self.fuse(F.relu(h / len(self.convs)))


class DEE(nn.Module):
    """Two :class:`DEEBranch` es; returns ``dropout(cat(x, branch1(x), branch2(x)))`` on the batch dim."""

    def __init__(self, channels: int, dropout: float = 0.01) -> None:
        super().__init__()
        if channels < 4:
            raise ValueError(f"DEE needs at least 4 channels, got {channels}")
        self.channels = channels
        self.branch1 = DEEBranch(channels)
        self.branch2 = DEEBranch(channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(torch.cat((x, self.branch1(x), self.branch2(x)), dim=0))
