"""ResNet-50 in plain PyTorch with torchvision's state-dict names.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 -- the
Bottleneck variant with the stride on the 3x3 convolution ("ResNet v1.5", as in
torchvision).  This is also what DEEN uses: the authors' ``resnet.py`` (inherited
from the AGW baseline, ``mangye16/Cross-Modal-Re-ID-baseline``) puts the stride
on ``conv2`` of the first bottleneck of a stage and takes
``last_conv_stride`` / ``last_conv_dilation`` arguments; DEEN calls it with
``last_conv_stride=1, last_conv_dilation=1``.  Dilation 1 is the only value
DEEN uses, so we expose ``last_stride`` only.  Their ResNet has no ``avgpool``
/ ``fc`` (they drop ``fc.*`` from the ImageNet checkpoint); ours keeps an
optional ``fc`` so a torchvision ImageNet checkpoint loads strictly.

State-dict names are torchvision's: ``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer1.0.downsample.0/1``, ``layer4.2.bn3``, ``fc``.  ``base_channels`` (64)
and ``layers`` ((3, 4, 6, 3)) shrink the network for tests without a second
code path; fewer than four entries in ``layers`` builds only those stages
(DEEN's RegDB variant has no ``layer4``).
"""

from __future__ import annotations

import os
from typing import Sequence

import torch
from torch import Tensor, nn

from vireid.models.weights import load_state_dict_strict
from vireid.utils.precision import keep_fp32

EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here) -> 1x1 residual block with 4x channel expansion."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNetStem(nn.Module):
    """``conv1`` (7x7, stride 2) -> ``bn1`` -> ReLU -> 3x3 max-pool (stride 2): overall stride 4.

    Float32 under autocast (:func:`~vireid.utils.precision.keep_fp32`): in bf16 the images
    themselves would be rounded, before any layer, and every layer after the stem amplifies
    that rounding; the stem is a small part of the network's work.
    """

    def __init__(self, base_channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, base_channels, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

    @keep_fp32
    def forward(self, x: Tensor) -> Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


def make_stage(in_channels: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` bottlenecks; the first one strides and projects."""
    mods = [Bottleneck(in_channels, planes, stride)]
    mods += [Bottleneck(planes * EXPANSION, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*mods)


def init_resnet_(module: nn.Module) -> None:
    """Kaiming-normal (fan_out) convs, BN weight 1 / bias 0 -- the AGW/DEEN ``resnet.py`` init.

    (Their ``normal_(0, sqrt(2 / (k*k*out)))`` is exactly ``kaiming_normal_(mode="fan_out")``.)
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResNet(nn.Module):
    """Bottleneck ResNet (ResNet-50 by default) with torchvision names.

    Args:
        layers: blocks per stage, 1 to 4 stages (``(3, 4, 6, 3)`` = ResNet-50).
        base_channels: stem width (64); stage ``i`` has ``base * 2**i`` bottleneck planes
            and outputs ``4 * base * 2**i`` channels.
        last_stride: stride of the 4th stage (2 in ImageNet ResNet, 1 in DEEN).
        num_classes: size of the ``fc`` head; ``None`` builds no ``avgpool``/``fc``
            and ``forward`` returns the last feature map.
        stem: build ``conv1``/``bn1``/``maxpool``; ``False`` starts at ``layer1``
            (input: the stem's output), as DEEN's shared trunk does.
    """

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        base_channels: int = 64,
        last_stride: int = 2,
        num_classes: int | None = 1000,
        stem: bool = True,
    ) -> None:
        super().__init__()
        layers = tuple(int(n) for n in layers)
        if not 1 <= len(layers) <= 4 or min(layers) < 1:
            raise ValueError(f"layers must have 1 to 4 positive entries, got {layers}")
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
        self.layers = layers
        self.base_channels = base_channels
        self.last_stride = last_stride
        self.has_stem = stem
        if stem:
            # torchvision puts these at the top level (names conv1/bn1, not stem.conv1)
            s = ResNetStem(base_channels)
            self.conv1, self.bn1, self.relu, self.maxpool = s.conv1, s.bn1, s.relu, s.maxpool
        in_ch = base_channels
        strides = (1, 2, 2, last_stride)
        for i, blocks in enumerate(layers):
            planes = base_channels * 2**i
            self.add_module(f"layer{i + 1}", make_stage(in_ch, planes, blocks, strides[i]))
            in_ch = planes * EXPANSION
        self.out_channels = in_ch
        self.fc: nn.Linear | None = None
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(in_ch, num_classes)
        init_resnet_(self)

    @property
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, f"layer{i + 1}") for i in range(len(self.layers))]

    def stage_channels(self, i: int) -> int:
        """Output channels of stage ``i`` (0-based)."""
        return self.base_channels * 2**i * EXPANSION

    @keep_fp32  # as ResNetStem
    def forward_stem(self, x: Tensor) -> Tensor:
        if not self.has_stem:
            raise RuntimeError("this ResNet was built with stem=False")
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward(self, x: Tensor) -> Tensor:
        if self.has_stem:
            x = self.forward_stem(x)
        for stage in self.stages:
            x = stage(x)
        if self.fc is not None:
            x = self.fc(torch.flatten(self.avgpool(x), 1))
        return x

    def load_checkpoint(self, path: str | os.PathLike, strict: bool = True) -> None:
        """Load a torchvision-named state dict (``.pth``/``.pt`` or ``.safetensors``) by path.

        With ``strict`` every missing, unexpected or shape-mismatched key is
        listed in one :class:`~vireid.errors.CheckpointError`.  A model built with
        ``num_classes=None`` ignores the checkpoint's ``fc.*`` keys (ImageNet
        checkpoints always have them).
        """
        from vireid.utils.io import load_state_dict_file

        state = load_state_dict_file(path)
        if self.fc is None:
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        load_state_dict_strict(self, state, source=str(path), strict=strict)


def resnet50(
    last_stride: int = 2,
    num_classes: int | None = 1000,
    base_channels: int = 64,
    layers: Sequence[int] = (3, 4, 6, 3),
    checkpoint: str | os.PathLike | None = None,
) -> ResNet:
    """ResNet-50 (torchvision names); ``checkpoint`` loads ImageNet weights strictly by path."""
    model = ResNet(layers, base_channels, last_stride, num_classes)
    if checkpoint is not None:
        model.load_checkpoint(checkpoint)
    return model
