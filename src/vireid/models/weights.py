"""Strict state-dict loading with a readable report, and vireid's checkpoint format.

vireid checkpoints are safetensors files: the model's state dict plus JSON
metadata ``{"format": "vireid-model", "version": "1", "architecture": NAME,
"kwargs": JSON}`` where ``kwargs`` are the constructor arguments that rebuild
the architecture (e.g. ``{"num_classes": 395, "variant": "default", ...}``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import torch
from torch import nn

from vireid.errors import CheckpointError

FORMAT_NAME = "vireid-model"
FORMAT_VERSION = "1"
_MAX_LISTED = 20


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f", ... ({more} more)" if more > 0 else "")


def state_dict_mismatches(module: nn.Module, state: Mapping[str, torch.Tensor]
                          ) -> tuple[list[str], list[str], list[str]]:
    """Return ``(missing, unexpected, shape_mismatched)`` keys of ``state`` against ``module``.

    ``shape_mismatched`` entries read ``"key: checkpoint (a, b) vs model (c, d)"``.
    """
    own = module.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    mismatched = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    )
    return missing, unexpected, mismatched


def load_state_dict_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint",
                           strict: bool = True) -> tuple[list[str], list[str]]:
    """Copy ``state`` into ``module``; raise one :class:`CheckpointError` listing every problem.

    Shape mismatches are always an error.  With ``strict=False`` missing and
    unexpected keys are tolerated and returned as ``(missing, unexpected)``.  Missing
    ``*.num_batches_tracked`` buffers are never an error (torchvision's ImageNet
    checkpoints do not have them).
    """
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{source}: entries are not tensors: {_listing(sorted(bad))}")
    missing, unexpected, mismatched = state_dict_mismatches(module, state)
    # BatchNorm's batch counter is absent from torchvision's ImageNet checkpoints (saved before
    # it existed); it only matters for momentum=None, so a missing one keeps the model's value.
    missing = [k for k in missing if not k.endswith(".num_batches_tracked")]
    problems = []
    if mismatched:
        problems.append(f"{len(mismatched)} shape-mismatched key(s): {_listing(mismatched)}")
    if strict and missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if strict and unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if problems:
        raise CheckpointError(
            f"{source}: does not match {type(module).__name__} "
            f"(is it a checkpoint of another architecture or size?); " + "; ".join(problems)
        )
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if k in own}
    module.load_state_dict(usable, strict=False)
    return missing, unexpected


def save_model_checkpoint(path: str | os.PathLike, module: nn.Module, architecture: str,
                          kwargs: Mapping[str, Any]) -> None:
    """Write ``module``'s state dict and its constructor ``kwargs`` to a safetensors file (atomic)."""
    from vireid.utils.io import save_safetensors

    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "architecture": architecture,
        "kwargs": json.dumps(dict(kwargs), sort_keys=True),
    }
    save_safetensors(module.state_dict(), path, metadata=meta)


def read_model_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], str, dict[str, Any]]:
    """Read a file written by :func:`save_model_checkpoint`: ``(state, architecture, kwargs)``."""
    from vireid.utils.io import load_safetensors

    state, meta = load_safetensors(path)
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path}: not a vireid model checkpoint (metadata 'format' is {meta.get('format')!r}, "
            f"expected {FORMAT_NAME!r})"
        )
    try:
        kwargs = json.loads(meta["kwargs"])
        arch = meta["architecture"]
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: malformed vireid checkpoint metadata ({exc})") from None
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{path}: metadata 'kwargs' must be a JSON object")
    return state, arch, kwargs
