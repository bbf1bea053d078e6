"""AGW: the cross-modality re-ID baseline of Ye et al., and the plain two-stream ``base``.

Ye, Shen, Lin, Xiang, Shao & Hoi, "Deep Learning for Person Re-identification: A Survey
and Outlook", TPAMI 2021, Sec. 4.1 (AGW = Attention Generalized mean pooling with Weighted
triplet), as coded in ``AGW/model.py`` of ZYK100/LLCM (a copy of ``model.py`` of
mangye16/Cross-Modal-Re-ID-baseline).  Reproduced operation by operation, so the
authors' checkpoints give identical outputs (:func:`vireid.models.official_agw.load_official_agw`).

Data flow (``c = base_channels``, 64 for ResNet-50)::

    stem_visible / stem_infrared  (modality-specific conv1, bn1, relu, maxpool)   -> c    @ /4
    backbone.layer1..4 (shared; last stride 1); after each of the last
      ``non_local_layers[i]`` blocks of stage i a non-local block   (0, 2, 3, 0)   -> 32c  @ /16
    GeM pooling (p = 3) or, for ``base``, average pooling -> pooled (M, 32c)
    bottleneck (BatchNorm1d, frozen bias) -> classifier (no bias)

The authors switch between their two methods with ``embed_net(n, no_local='on'|'off',
gm_pool='on'|'off')`` (``train.py --method agw|base`` turns both on or both off); ours are
``non_local`` and ``gem``.  ``base`` (``AGW(n, non_local=False, gem=False)``) is the
two-stream ResNet-50 of Ye et al., TIFS 2019, with a BNNeck.

State-dict names: ``stem_visible.conv1/bn1``, ``stem_infrared.conv1/bn1``, ``backbone.layer1..4``
(torchvision names inside), ``nl{1..4}.{j}.{g,theta,phi,out.conv,out.bn}`` (the ``j``-th
non-local block of stage 1..4), ``bottleneck``, ``classifier``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Sequence

import torch
from torch import Tensor, nn

from vireid.core.params import POSITIVE, Length, Range
from vireid.models.base import (
    MODAL_BOTH,
    ReIDModel,
    check_modal_inputs,
    declared_config,
    two_stream_ow_modules,
    two_stream_stems,
)
from vireid.models.mfa import _OutProjection, linear_attention
from vireid.models.registry import register_model
from vireid.models.resnet import ResNet, ResNetStem, init_resnet_
from vireid.models.weights import load_state_dict_strict

NON_LOCAL_LAYERS = (0, 2, 3, 0)  # AGW/model.py: non_layers = [0, 2, 3, 0]


class NonLocal(nn.Module):
    """AGW's ``Non_local`` block (Wang et al., "Non-local Neural Networks", CVPR 2018, dot product).

    ``z = W(y) + x`` with ``y = (theta(x)^T phi(x) / N) g(x)`` over the ``N = H W`` positions (no
    softmax); ``W`` is a 1x1 conv then a BatchNorm initialised to zero, so a fresh block is the
    identity.  ``inter_channels`` is 1 by default because the authors' code sets it to
    ``reduc_ratio // reduc_ratio`` (= 1 for any ratio), and their checkpoints are shaped so.
    The convolutions keep their biases and PyTorch's default initialisation, as theirs.
    """

    def __init__(self, in_channels: int, inter_channels: int = 1) -> None:
        super().__init__()
        self.in_channels, self.inter_channels = int(in_channels), int(inter_channels)
        self.g = nn.Conv2d(in_channels, inter_channels, 1)
        self.theta = nn.Conv2d(in_channels, inter_channels, 1)
        self.phi = nn.Conv2d(in_channels, inter_channels, 1)
        self.out = _OutProjection(inter_channels, in_channels)

    def forward(self, x: Tensor) -> Tensor:
        b, ci = x.shape[0], self.inter_channels
        value = self.g(x).reshape(b, ci, -1).transpose(1, 2)  # (B, N, ci)
        query = self.theta(x).reshape(b, ci, -1).transpose(1, 2)  # (B, N, ci)
        key = self.phi(x).reshape(b, ci, -1)  # (B, ci, N)
        y = linear_attention(query, key, value).transpose(1, 2)  # (B, ci, N), affinity / N
        return self.out(y.reshape(b, ci, *x.shape[2:])) + x


def gem_pool(x: Tensor, p: float = 3.0, eps: float = 1e-12) -> Tensor:
    """Generalised-mean pooling ``(mean_hw x^p + eps)^(1/p)`` of (B, C, H, W) -> (B, C).

    AGW's form (``AGW/model.py``: ``(torch.mean(x**p, dim=-1) + 1e-12)**(1/p)``, p = 3, fixed);
    ``x`` is non-negative (after ReLU).  Half precision is computed in float32, so that ``x**3``
    cannot overflow in fp16.
    """
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    return (x.flatten(2).pow(p).mean(dim=-1) + eps).pow(1.0 / p)


@register_model(
    "agw",
    architecture="AGW",
    summary="AGW (non-local, GeM, WRT), Ye et al. TPAMI 2021; non_local=False, gem=False is 'base'",
)
class AGW(ReIDModel):
    """AGW (``non_local=True, gem=True``) or the two-stream ``base`` (both ``False``).

    Args:
        num_classes: training identities (classifier size).
        non_local: non-local blocks after the last ``non_local_layers[i]`` blocks of stage ``i``.
        gem: generalised-mean pooling (``gem_p``) instead of average pooling.
        base_channels: ResNet stem width (64); every width scales with it.
        layers: bottlenecks per ResNet stage, ``(3, 4, 6, 3)``.  A stage with fewer blocks than
            its ``non_local_layers`` entry gets one non-local block per bottleneck.
        non_local_layers: non-local blocks per stage, the authors' ``(0, 2, 3, 0)``.
        nl_inter_channels: channels inside each non-local block (the authors' 1, see :class:`NonLocal`).
        gem_p: the GeM exponent (3).
    """

    num_embeddings = 1
    min_input_hw = (16, 16)  # a ResNet-50 of stride 16 (last stride 1)
    train_bytes_per_input_byte = 190.0  # at least what benchmarks/bench_activation_memory.py measures
    pretrained_family = "resnet50"
    # the authors' test descriptor (AGW/test.py): the BNNeck feature of the image alone
    eval_defaults = {"flip": False, "combine": "bn"}  # AGW/test.py
    test_size = (288, 144)  # AGW/test.py --img_h 288 --img_w 144

    def __init__(
        self,
        num_classes: Annotated[int, Range(1)],
        *,
        non_local: bool = True,
        gem: bool = True,
        base_channels: Annotated[int, Range(1)] = 64,
        layers: Annotated[Sequence[int], Length(4), Range(1)] = (3, 4, 6, 3),
        non_local_layers: Annotated[Sequence[int], Length(4), Range(0)] = NON_LOCAL_LAYERS,
        nl_inter_channels: Annotated[int, Range(1)] = 1,
        gem_p: Annotated[float, POSITIVE] = 3.0,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = declared_config(AGW, locals())
        layers, non_local_layers = tuple(self.config["layers"]), tuple(self.config["non_local_layers"])
        self.num_classes = int(num_classes)
        self.non_local, self.gem, self.gem_p = bool(non_local), bool(gem), float(self.config["gem_p"])
        c = base_channels
        self.stem_visible = ResNetStem(c)
        self.stem_infrared = ResNetStem(c)
        init_resnet_(self.stem_visible)
        # both stems start equal, as in the authors' code (two copies of one ImageNet ResNet-50)
        self.stem_infrared.load_state_dict(self.stem_visible.state_dict())
        self.backbone = ResNet(layers, c, last_stride=1, num_classes=None, stem=False)
        counts = [min(n, b) if self.non_local else 0 for n, b in zip(non_local_layers, layers, strict=True)]
        for i, n in enumerate(counts):
            ch = self.backbone.stage_channels(i)
            self.add_module(f"nl{i + 1}", nn.ModuleList(NonLocal(ch, nl_inter_channels) for _ in range(n)))
        self.pool_dim = self.feat_dim = self.backbone.out_channels
        self.init_head(self.feat_dim, self.num_classes)

    @property
    def non_local_blocks(self) -> list[nn.ModuleList]:
        return [getattr(self, f"nl{i + 1}") for i in range(4)]

    # ------------------------------------------------------------------ forward
    def _check_inputs(self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int) -> None:
        check_modal_inputs(x_vis, x_ir, modal, self.min_input_hw)

    def forward_stems(self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int) -> Tensor:
        return two_stream_stems(self.stem_visible, self.stem_infrared, x_vis, x_ir, modal)

    def forward_features(
        self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int = MODAL_BOTH
    ) -> tuple[Tensor, dict[str, Tensor], dict[str, Any]]:
        self._check_inputs(x_vis, x_ir, modal)
        x = self.forward_stems(x_vis, x_ir, modal)
        for stage, nls in zip(self.backbone.stages, self.non_local_blocks, strict=True):
            first = len(stage) - len(nls)  # non-local blocks follow the stage's last len(nls) bottlenecks
            for j, block in enumerate(stage):
                x = block(x)
                if j >= first:
                    x = nls[j - first](x)
        pooled = gem_pool(x, self.gem_p) if self.gem else x.mean(dim=(2, 3))
        return pooled, {}, {"feature_map": x}

    # ------------------------------------------------------------------ weights
    def ow_modules(self, reach: str = "all") -> list[nn.Conv2d]:
        """The convolutions ABD-Net's O.W. covers (:func:`~vireid.models.base.two_stream_ow_modules`)."""
        return two_stream_ow_modules(self.stem_visible, self.stem_infrared, self.backbone, reach)

    def _load_pretrained_file(self, path: Path) -> None:
        """Both stems and the trunk from a torchvision ResNet-50 file, as the authors' ``embed_net`` does.

        ``fc.*`` is ignored; every other key must match (:class:`CheckpointError` lists the problems).
        """
        from vireid.utils.io import load_state_dict_file

        state = load_state_dict_file(path)
        stem = {k: v for k, v in state.items() if k.split(".")[0] in ("conv1", "bn1")}
        trunk = {k: v for k, v in state.items() if k.split(".")[0] not in ("conv1", "bn1", "fc")}
        load_state_dict_strict(self.stem_visible, stem, source=f"{path} (stem)")
        load_state_dict_strict(self.stem_infrared, stem, source=f"{path} (stem)")
        load_state_dict_strict(self.backbone, trunk, source=f"{path} (trunk)")
