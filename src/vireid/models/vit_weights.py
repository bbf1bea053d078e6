"""Reading timm ViT checkpoints (``.pth``/``.safetensors``) and resampling their position embeddings.

A timm checkpoint (e.g. ``vit_base_patch16_224``'s ``model.safetensors``) uses the same
names as :class:`vireid.models.vit.VisionTransformer`.  Its position embeddings are
resampled to the model's patch grid the way timm's ``resample_abs_pos_embed`` does:
prefix (cls) tokens kept apart, the grid part interpolated bicubically (antialiased,
``align_corners=False``) in float32.  Every other key must match by name and shape;
anything else raises :class:`CheckpointError` listing the offending keys.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor

from vireid.errors import CheckpointError
from vireid.models.vit import grid_hw
from vireid.models.weights import strip_module_prefix
from vireid.utils.io import load_state_dict_file


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


def read_timm_checkpoint(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a timm ViT state dict (``.safetensors`` or ``.pth``/``.pt``/``.bin``; weights_only)."""
    return strip_module_prefix(load_state_dict_file(path), source=str(path))
