"""Loading timm ViT checkpoints (``.pth``/``.safetensors``) strictly from a path.

A timm checkpoint (e.g. ``vit_base_patch16_224``'s ``model.safetensors``) uses the same
names as :class:`vireid.models.vit.VisionTransformer`.  Its position embeddings are
resampled to the model's patch grid the way timm's ``resample_abs_pos_embed`` does:
prefix (cls) tokens kept apart, the grid part interpolated bicubically (antialiased,
``align_corners=False``) in float32.  Every other key must match by name and shape;
anything else raises :class:`CheckpointError` listing the offending keys.
"""

from __future__ import annotations

import os
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from vireid.errors import CheckpointError
from vireid.models.vit import VisionTransformer, grid_hw
from vireid.models.weights import load_state_dict_strict, strip_module_prefix
from vireid.utils.io import load_state_dict_file

HEAD_KEYS = ("head.weight", "head.bias")


def resample_abs_pos_embed(
    posemb: Tensor,
    new_size: tuple[int, int],
    old_size: tuple[int, int] | None = None,
    num_prefix_tokens: int = 1,
    interpolation: str = "bicubic",
    antialias: bool = True,
) -> Tensor:
    """Resample (1, prefix + H*W, C) position embeddings to the ``new_size`` grid; prefix tokens kept as-is."""
    n_pos = posemb.shape[1]
    if old_size is None:
        side = grid_hw(n_pos - num_prefix_tokens)
        old_size = (side, side)
    if old_size[0] * old_size[1] + num_prefix_tokens != n_pos:
        raise CheckpointError(
            f"pos_embed has {n_pos} tokens, which is not {num_prefix_tokens} prefix + "
            f"{old_size[0]}x{old_size[1]} grid tokens"
        )
    if tuple(old_size) == tuple(new_size):
        return posemb
    prefix, grid = posemb[:, :num_prefix_tokens], posemb[:, num_prefix_tokens:]
    dim, dtype = posemb.shape[-1], posemb.dtype
    grid = grid.float().reshape(1, old_size[0], old_size[1], dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(new_size), mode=interpolation, antialias=antialias)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim).to(dtype)
    return torch.cat((prefix, grid), dim=1)


def key_report(path: object, missing: list[str], unexpected: list[str], shapes: list[str]) -> str:
    parts = [f"{path}: checkpoint does not match the architecture"]
    if missing:
        parts.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
    if unexpected:
        parts.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
    if shapes:
        parts.append(f"shape mismatches ({len(shapes)}): {'; '.join(shapes)}")
    return "\n  ".join(parts)


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


def read_timm_checkpoint(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a timm ViT state dict (``.safetensors`` or ``.pth``/``.pt``/``.bin``; weights_only)."""
    return strip_module_prefix(load_state_dict_file(path), source=str(path))


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
