"""Loading a timm ViT checkpoint into :class:`vireid.models.vit.VisionTransformer` strictly (what the
timm parity test needs; DEEN-ViT loads timm weights through ``DEENViT.load_pretrained``)."""

from __future__ import annotations

import os
from typing import Mapping

from torch import Tensor

from vireid.models.vit import VisionTransformer
from vireid.models.vit_weights import read_timm_checkpoint, resample_abs_pos_embed
from vireid.models.weights import load_state_dict_strict

HEAD_KEYS = ("head.weight", "head.bias")


def adapt_timm_state_dict(
    state_dict: Mapping[str, Tensor],
    grid_size: tuple[int, int],
    num_prefix_tokens: int = 1,
    old_grid: tuple[int, int] | None = None,
    keep_head: bool = True,
) -> dict[str, Tensor]:
    """Resample ``pos_embed`` to ``grid_size``; drop the pretraining classifier unless ``keep_head``.

    ``old_grid`` is the checkpoint's grid (default: square, as every timm ViT checkpoint).
    """
    sd = dict(state_dict)
    if "pos_embed" in sd:
        sd["pos_embed"] = resample_abs_pos_embed(sd["pos_embed"], grid_size, old_grid, num_prefix_tokens)
    if not keep_head:
        for k in HEAD_KEYS:
            sd.pop(k, None)
    return sd


def load_timm_checkpoint(
    model: VisionTransformer, path: str | os.PathLike, old_grid: tuple[int, int] | None = None
) -> None:
    """Load a timm ViT checkpoint into ``model`` strictly, resizing ``pos_embed`` to the model's grid.

    The checkpoint's classifier (``head.*``) is dropped when the model has no head
    (``num_classes=0``); every other difference raises :class:`CheckpointError` naming the keys.
    """
    sd = read_timm_checkpoint(path)
    sd = adapt_timm_state_dict(sd, model.grid_size, model.num_prefix_tokens, old_grid, keep_head=model.num_classes > 0)
    load_state_dict_strict(model, sd, source=str(path))
