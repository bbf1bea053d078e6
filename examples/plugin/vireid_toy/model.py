"""A small two-stream CNN whose feature map, as tokens, goes through any registered expansion module.

stem_visible / stem_infrared   conv 3x3 / 2, BN, ReLU               -> width      @ /2
body                           2 x (conv 3x3, BN, ReLU), first / 2 -> 2 * width  @ /4
expansion (model.args.expansion, e.g. toy_mix or dee)   tokens (M, N, C) -> ((1 + K) M, N, C)
mean over tokens -> pooled ((1 + K) M, C) -> vireid's BNNeck head (bottleneck, classifier)
"""

from __future__ import annotations

from typing import Annotated, Any, Mapping

import torch
from torch import Tensor, nn

from vireid.core.params import KwargsOf, Range, Registered
from vireid.models.base import (
    MODAL_BOTH,
    MODAL_INFRARED,
    MODAL_VISIBLE,
    ReIDModel,
    check_modal_inputs,
    declared_config,
    two_stream_stems,
)
from vireid.models.expansion import EXPANSIONS, build_expansion
from vireid.models.registry import register_model


def conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


@register_model("toy_net", architecture="ToyNet", summary="a small two-stream CNN with any expansion module")
class ToyNet(ReIDModel):
    """See the module docstring; ``width`` is the stem's channels."""

    train_bytes_per_input_byte = 60.0  # a few small feature maps per image

    def __init__(
        self,
        num_classes: Annotated[int, Range(1)],
        *,
        width: Annotated[int, Range(4, 1024)] = 16,
        expansion: Annotated[str, Registered(EXPANSIONS)] = "none",
        expansion_kwargs: Annotated[
            Mapping[str, Any] | None, KwargsOf(EXPANSIONS, by="expansion", skip=("dim",))
        ] = None,
    ) -> None:
        super().__init__()
        self.config = declared_config(ToyNet, locals())  # checked against the declarations above
        self.stem_visible = conv_bn_relu(3, width, 2)
        self.stem_infrared = conv_bn_relu(3, width, 2)
        self.body = nn.Sequential(conv_bn_relu(width, 2 * width, 2), conv_bn_relu(2 * width, 2 * width, 1))
        self.expansion = build_expansion(expansion, 2 * width, **dict(expansion_kwargs or {}))
        self.num_embeddings = 1 + self.expansion.num_generated
        self.init_head(2 * width, num_classes)

    @property
    def aux_loss_names(self) -> tuple[str, ...]:
        return tuple(f"expansion_{n}" for n in self.expansion.aux_loss_names)

    def forward_features(
        self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int = MODAL_BOTH
    ) -> tuple[Tensor, dict[str, Tensor], dict[str, Any]]:
        check_modal_inputs(x_vis, x_ir, modal, min_hw=(8, 8))
        x = self.body(two_stream_stems(self.stem_visible, self.stem_infrared, x_vis, x_ir, modal))
        n_vis = 0 if modal == MODAL_INFRARED else x_vis.shape[0]
        modality = torch.full((x.shape[0],), MODAL_INFRARED, dtype=torch.long, device=x.device)
        modality[:n_vis] = MODAL_VISIBLE
        tokens = x.flatten(2).transpose(1, 2)  # (M, N, C)
        expanded, aux, branches = self.expansion(tokens, tuple(x.shape[2:]), modality)
        fields = {"modality": modality, "branch_embeddings": branches, "feature_map": x}
        return expanded.mean(dim=1), {f"expansion_{k}": v for k, v in aux.items()}, fields
