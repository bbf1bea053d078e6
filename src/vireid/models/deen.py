"""DEEN: Diverse Embedding Expansion Network (ResNet-50), exactly as published.

Zhang & Wang, "Diverse Embedding Expansion Network and Low-Light Cross-Modality
Benchmark for Visible-Infrared Person Re-identification", CVPR 2023, and the
authors' code (``DEEN/model.py`` of ZYK100/LLCM), which this reproduces
operation by operation so their checkpoints give identical outputs
(:func:`vireid.models.official.load_official_deen`).

Data flow (``c = base_channels``, 64 for ResNet-50)::

    stem_visible / stem_infrared   (modality-specific conv1, bn1, relu, maxpool)   -> c    @ /4
    x = layer1(x_);  x_ = mfa1(x, x_)      MFA(4c, c,  stride2=False)              -> 4c   @ /4
    x = layer2(x_);  x_ = mfa2(x, x_)      MFA(8c, 4c, stride2=True)               -> 8c   @ /8
    default: x = layer3(x_); x_ = mfa3(x, x_) (MFA(16c, 8c, True)); x_ = dee(x_)     -> 16c  @ /16, 3x batch
             x = layer4(x_)  (last stride 1)                                       -> 32c  @ /16
    regdb:   x_ = dee(x_) (DEE(8c)); x = layer3(x_)                                -> 16c  @ /16
    GAP -> pooled (3M, D) -> bottleneck (BatchNorm1d, frozen bias) -> classifier (no bias)

State-dict names: ``stem_visible.conv1/bn1``, ``stem_infrared.conv1/bn1``,
``backbone.layer1..4`` (torchvision names inside), ``mfa1.cnl.{g,theta,phi,out.conv,out.bn}``,
``mfa1.pnl.*``, ``dee.branch{1,2}.convs.{0,1,2}`` (dilation 1, 2, 3), ``dee.branch{1,2}.fuse``,
``bottleneck``, ``classifier``; with ABD options also ``shallow_cam`` (or ``abd_cam``),
``att_pam``, ``att_cam``.

ABD-Net options (Chen et al., "Attentive but Diverse Person Re-Identification",
ICCV 2019), all off by default so that default DEEN is the published DEEN:

* ``abd_cam``: a shallow CAM at ``abd_cam_position``: ``"layer1"`` (default; ABD-Net's
  ``ShallowCAM(256)`` between ``layer1`` and ``layer2``, ``torchreid/models/resnet.py`` of
  ABD-Net, "res_conv_2" in their paper; module ``shallow_cam``, on the stage output before
  ``mfa1``) or ``"layer2"`` (module ``abd_cam``, before ``mfa2``).  Its output is returned as
  ``TrainOutput.of_features`` for the O.F. penalty (ABD-Net's "intermediate" position).
* ``abd_attention_branch``: an attentive branch on the last stage's output
  (the same tensor the global branch pools): ``PAM(x) + CAM(x)`` -- applied in
  parallel and summed, as ABD-Net's ``ABDBranch`` sums its attention modules'
  outputs -- then its own GAP.
  Its pooled feature is concatenated with the global one, so the embedding
  dimension doubles (``2 * 32c`` = 4096 default, ``2 * 16c`` = 2048 regdb) and the
  BNNeck / classifier follow.  ABD-Net's 1x1 reduction before and 1x1 conv after
  the sum are left out (the branch adds only PAM/CAM parameters).  The DEE
  orthogonal loss stays on the global branch's pooled feature (as published; it
  is non-negative there, after ReLU).
* O.W. (weight orthogonality) is a training loss; :meth:`DEEN.ow_modules` lists
  the convolutions it should cover (all ``Conv2d`` of the stems + ResNet trunk).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.core.params import Check, Length, Range
from vireid.errors import CheckpointError, ShapeError
from vireid.losses.orthogonal import deen_orthogonal_loss
from vireid.models.base import (
    MODAL_BOTH,
    ReIDModel,
    check_modal_inputs,
    declared_config,
    two_stream_ow_modules,
    two_stream_stems,
)
from vireid.models.dee import DEE
from vireid.models.mfa import MFABlock
from vireid.models.registry import register_model
from vireid.models.resnet import ResNet, ResNetStem, init_resnet_
from vireid.models.weights import load_state_dict_strict

Variant = Literal["default", "regdb"]
CamPosition = Literal["layer1", "layer2"]


@register_model("deen", architecture="DEEN", summary="DEEN (ResNet-50, MFA, DEE), CVPR 2023")
class DEEN(ReIDModel):
    """DEEN with ResNet-50 (see the module docstring for the architecture and names).

    Args:
        num_classes: training identities (classifier size).
        variant: ``"default"`` (SYSU-MM01 / LLCM: MFA1-3, DEE(1024), layer4, 2048-d)
            or ``"regdb"`` (no MFA3 / layer4, DEE(512) after MFA2, 1024-d).
        base_channels: ResNet stem width (64); every width scales with it.
        layers: bottlenecks per ResNet stage, ``(3, 4, 6, 3)``; regdb uses the first three.
        dee_dropout: dropout after DEE (0.01).
        abd_cam, abd_cam_position, abd_attention_branch: ABD-Net options (module docstring).
    """

    num_embeddings = 3
    min_input_hw = (16, 16)  # a ResNet-50 of stride 16 (last stride 1)
    train_bytes_per_input_byte = 340.0  # at least what benchmarks/bench_activation_memory.py measures
    pretrained_family = "resnet50"

    def __init__(
        self,
        num_classes: Annotated[int, Range(1)],
        variant: Variant = "default",
        *,
        base_channels: Annotated[int, Range(4), Check(lambda c: c % 2 == 0, "an even number >= 4")] = 64,
        layers: Annotated[Sequence[int], Length(4), Range(1)] = (3, 4, 6, 3),
        dee_dropout: Annotated[float, Range(0, 1, hi_open=True)] = 0.01,
        abd_cam: bool = False,
        abd_cam_position: CamPosition = "layer1",
        abd_attention_branch: bool = False,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = declared_config(DEEN, locals())
        layers = tuple(self.config["layers"])
        self.variant = variant
        self.num_classes = int(num_classes)
        c = base_channels
        regdb = variant == "regdb"
        self.stem_visible = ResNetStem(c)
        self.stem_infrared = ResNetStem(c)
        init_resnet_(self.stem_visible)
        init_resnet_(self.stem_infrared)
        # both stems start equal, as in the authors' code where each is a copy of the same
        # ImageNet ResNet-50 stem (from random weights this made no clear difference on the
        # synthetic benchmark; benchmarks/RESULTS.md, "Design measurements")
        self.stem_infrared.load_state_dict(self.stem_visible.state_dict())
        self.backbone = ResNet(layers[:3] if regdb else layers, c, last_stride=1, num_classes=None, stem=False)
        self.mfa1 = MFABlock(4 * c, c, stride2=False)
        self.mfa2 = MFABlock(8 * c, 4 * c, stride2=True)
        self.mfa3 = None if regdb else MFABlock(16 * c, 8 * c, stride2=True)
        self.dee = DEE(8 * c if regdb else 16 * c, dropout=dee_dropout)
        self.pool_dim = self.backbone.out_channels
        self.shallow_cam = self.abd_cam = self.att_pam = self.att_cam = None
        if abd_cam or abd_attention_branch:
            from vireid.models.abd import CAM, PAM  # the ABD-Net attention modules

            if abd_cam and abd_cam_position == "layer1":
                self.shallow_cam = CAM(4 * c)
            elif abd_cam:
                self.abd_cam = CAM(8 * c)
            if abd_attention_branch:
                self.att_pam = PAM(self.pool_dim)
                self.att_cam = CAM(self.pool_dim)
        self.feat_dim = self.pool_dim * (2 if abd_attention_branch else 1)
        self.init_head(self.feat_dim, self.num_classes)

    # ------------------------------------------------------------------ inputs
    def _feature_sizes(self, h: int, w: int) -> list[tuple[int, int]]:
        """Spatial sizes after the stem (/4), layer2 (/8) and layer3 (/16)."""

        def down(n: int, k: int, s: int, p: int) -> int:
            return (n + 2 * p - k) // s + 1

        h4, w4 = down(down(h, 7, 2, 3), 3, 2, 1), down(down(w, 7, 2, 3), 3, 2, 1)
        h8, w8 = down(h4, 3, 2, 1), down(w4, 3, 2, 1)
        h16, w16 = down(h8, 3, 2, 1), down(w8, 3, 2, 1)
        return [(h4, w4), (h8, w8), (h16, w16)]

    def _check_inputs(self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int) -> None:
        first = check_modal_inputs(x_vis, x_ir, modal, self.min_input_hw)
        h, w = first.shape[2:]
        stages = self._feature_sizes(h, w)[: 2 if self.variant == "regdb" else 3]
        for stride, (fh, fw) in zip((4, 8, 16), stages, strict=False):  # regdb checks the first two only
            if (fh * fw) % 2:
                raise ShapeError(
                    f"image size {h}x{w} (H x W) gives a {fh}x{fw} feature map at stride {stride}; "
                    "DEEN's PNL (as published) needs an even number of positions at strides 4, 8"
                    + ("" if self.variant == "regdb" else " and 16")
                    + " -- use H, W multiples of 32 (e.g. 288x144 or 384x144)"
                )

    # ------------------------------------------------------------------ forward
    def forward_stems(self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int) -> Tensor:
        return two_stream_stems(self.stem_visible, self.stem_infrared, x_vis, x_ir, modal)

    def forward_features(
        self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int = MODAL_BOTH
    ) -> tuple[Tensor, dict[str, Tensor], dict[str, Any]]:
        self._check_inputs(x_vis, x_ir, modal)
        fields: dict[str, Any] = {}
        bb = self.backbone
        x_ = self.forward_stems(x_vis, x_ir, modal)
        x = bb.layer1(x_)
        if self.shallow_cam is not None:
            x = self.shallow_cam(x)
            fields["of_features"] = x
        x_ = self.mfa1(x, x_)
        x = bb.layer2(x_)
        if self.abd_cam is not None:
            x = self.abd_cam(x)
            fields["of_features"] = x
        x_ = self.mfa2(x, x_)
        if self.mfa3 is None:  # regdb: no MFA3 / layer4
            x_ = self.dee(x_)
            x = bb.layer3(x_)
        else:
            x = bb.layer3(x_)
            x_ = self.mfa3(x, x_)
            x_ = self.dee(x_)
            x = bb.layer4(x_)
        pooled = F.adaptive_avg_pool2d(x, 1).flatten(1)
        aux: dict[str, Tensor] = {}
        if self.training:
            aux["ort"] = deen_orthogonal_loss(pooled, self.num_embeddings)
        fields["feature_map"] = x
        if self.att_pam is not None:
            a = self.att_pam(x) + self.att_cam(x)
            pooled = torch.cat((pooled, F.adaptive_avg_pool2d(a, 1).flatten(1)), dim=1)
        return pooled, aux, fields

    @property
    def aux_loss_names(self) -> tuple[str, ...]:
        return ("ort",)  # DEEN's orthogonal loss L_ort (vireid.losses.orthogonal)

    # ------------------------------------------------------------------ ABD / weights
    def ow_modules(self, reach: str = "all") -> list[nn.Conv2d]:
        """The convolutions ABD-Net's O.W. penalty covers (:func:`~vireid.models.base.two_stream_ow_modules`):
        ``"all"`` every ``Conv2d`` of both stems and the ResNet trunk, ``"abd"`` each stem's ``conv1``
        as ABD-Net's code.  DEEN's MFA / DEE layers and the ABD attention modules are new heads, not
        backbone, and are left out."""
        return two_stream_ow_modules(self.stem_visible, self.stem_infrared, self.backbone, reach)

    def _load_pretrained_file(self, path: Path) -> None:
        """Both stems and the trunk from a torchvision ResNet-50 file, as the authors' ``embed_net``
        does (each stem module is a copy of the same ImageNet ResNet-50).

        ``fc.*`` is ignored, and for the regdb variant ``layer4.*`` too; every other key must match.
        """
        from vireid.utils.io import load_state_dict_file

        state = load_state_dict_file(path)
        stem = {k: v for k, v in state.items() if k.split(".")[0] in ("conv1", "bn1")}
        trunk_names = {f"layer{i + 1}" for i in range(len(self.backbone.layers))}
        ignored = {"fc"} | ({"layer4"} if self.variant == "regdb" else set())
        trunk = {
            k: v for k, v in state.items() if k.split(".")[0] not in ("conv1", "bn1") and k.split(".")[0] not in ignored
        }
        load_state_dict_strict(self.stem_visible, stem, source=f"{path} (stem)")
        load_state_dict_strict(self.stem_infrared, stem, source=f"{path} (stem)")
        bad = sorted(k for k in trunk if k.split(".")[0] not in trunk_names)
        if bad:
            raise CheckpointError(f"{path}: unexpected keys for a ResNet-50 checkpoint: {', '.join(bad[:20])}")
        load_state_dict_strict(self.backbone, trunk, source=f"{path} (trunk)")
