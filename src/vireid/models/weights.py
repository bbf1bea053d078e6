"""The one place that reads, checks and writes model weights.

* :func:`load_state_dict_strict`: every strict load in vireid goes through it, with one rule:
  every missing, unexpected or shape-mismatched key is listed in one :class:`CheckpointError`;
  a missing ``*.num_batches_tracked`` is never an error (torchvision's ImageNet files predate it).
* vireid's model format: a safetensors file with the state dict and JSON metadata
  ``{"format": "vireid-model", "version": "1", "architecture": NAME, "kwargs": {...}}``
  plus whatever the writer adds (the engine adds the run's ``config``, ``step``, ``metrics``).
  ``architecture`` and ``kwargs`` rebuild the model through :mod:`vireid.models.registry`.
  Metadata values are JSON strings; the file bytes depend only on tensors and metadata
  (:func:`vireid.utils.io.save_safetensors` writes a sorted header), so the same weights saved
  twice give the same file.
* Foreign formats (torchvision / timm ``.pth`` or ``.safetensors``, the DEEN authors' ``.t``)
  are read by :func:`vireid.utils.io.load_state_dict_file` / :mod:`vireid.models.official`
  and then loaded with :func:`load_state_dict_strict`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import torch
from torch import nn

from vireid.errors import CheckpointError, ConfigError

FORMAT_NAME = "vireid-model"
FORMAT_VERSION = "1"
_MAX_LISTED = 20


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f", ... ({more} more)" if more > 0 else "")


def state_dict_mismatches(module: nn.Module, state: Mapping[str, torch.Tensor]
                          ) -> tuple[list[str], list[str], list[str]]:
    """``(missing, unexpected, shape_mismatched)`` keys of ``state`` against ``module``.

    ``shape_mismatched`` entries read ``"key: checkpoint (a, b) vs model (c, d)"``.  A missing
    ``*.num_batches_tracked`` buffer is not reported (it only matters for ``momentum=None``).
    """
    own = module.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith(".num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    mismatched = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    )
    return missing, unexpected, mismatched


def load_state_dict_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint",
                           strict: bool = True) -> tuple[list[str], list[str]]:
    """Copy ``state`` into ``module``; raise one :class:`CheckpointError` listing every problem.

    Shape mismatches are always an error.  With ``strict=False`` missing and unexpected keys
    are tolerated and returned as ``(missing, unexpected)`` (a fine-tuning report).
    """
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{source}: entries are not tensors: {_listing(sorted(bad))}")
    missing, unexpected, mismatched = state_dict_mismatches(module, state)
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
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return missing, unexpected


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside DDP / ``torch.compile`` wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


# --------------------------------------------------------------------------- vireid's format
def encode_metadata(meta: Mapping[str, Any]) -> dict[str, str]:
    """safetensors metadata: strings kept, everything else as sorted JSON."""
    return {str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in meta.items()}


def decode_metadata(meta: Mapping[str, str]) -> dict[str, Any]:
    """Inverse of :func:`encode_metadata` (values that are not JSON stay strings)."""
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def model_metadata(model: nn.Module) -> dict[str, Any]:
    """The metadata that rebuilds ``model``: format, registry architecture and constructor kwargs."""
    from vireid.models.registry import spec_of

    kwargs = getattr(model, "config", None)
    if not isinstance(kwargs, Mapping):
        raise CheckpointError(f"{type(model).__name__} has no 'config' (constructor kwargs) to save")
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "architecture": spec_of(model).architecture,
            "kwargs": dict(kwargs)}


def save_weights(module: nn.Module, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``module``'s state dict and ``metadata`` as safetensors (atomic, deterministic bytes)."""
    from vireid.utils.io import save_safetensors

    # clone: safetensors refuses tensors that share storage
    state = {k: v.detach().cpu().clone() for k, v in unwrap_model(module).state_dict().items()}
    save_safetensors(state, path, encode_metadata(metadata or {}))


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state dict, decoded metadata)`` of any safetensors file."""
    from vireid.utils.io import load_safetensors

    tensors, meta = load_safetensors(path)
    return tensors, decode_metadata(meta)


def save_model(model: nn.Module, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``model`` in vireid's format (weights + what rebuilds it + ``metadata``)."""
    save_weights(model, path, {**(metadata or {}), **model_metadata(unwrap_model(model))})


def read_model_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], str, dict[str, Any],
                                                             dict[str, Any]]:
    """``(state, registry name, kwargs, metadata)`` of a file in vireid's format."""
    from vireid.models.registry import model_spec

    state, meta = read_weights(path)
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path}: not a vireid model checkpoint (metadata 'format' is {meta.get('format')!r}, "
            f"expected {FORMAT_NAME!r}; bare state dicts cannot be rebuilt)")
    kwargs, arch = meta.get("kwargs"), meta.get("architecture")
    if not isinstance(kwargs, dict) or not isinstance(arch, str):
        raise CheckpointError(f"{path}: malformed vireid checkpoint metadata (needs 'architecture' and a "
                              "JSON object 'kwargs')")
    try:
        name = model_spec(arch).name
    except ConfigError as exc:  # an architecture this version does not know
        raise CheckpointError(f"{path}: {exc}") from None
    return state, name, kwargs, meta


def build_from_metadata(name: str, kwargs: Mapping[str, Any], source: str) -> nn.Module:
    """Rebuild a registered model from checkpoint metadata (a :class:`CheckpointError` when invalid)."""
    from vireid.models.registry import create_model

    try:
        return create_model(name, kwargs, source=f"{source}: metadata 'kwargs'")
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None


def rebuild_model(path: str | os.PathLike, expected: type | None = None) -> nn.Module:
    """Rebuild the model saved at ``path`` (vireid format) and load its weights strictly (eval mode)."""
    state, name, kwargs, _ = read_model_checkpoint(path)
    model = build_from_metadata(name, kwargs, str(path))
    if expected is not None and not isinstance(model, expected):
        raise CheckpointError(f"{path}: holds a {type(model).__name__}, not a {expected.__name__}")
    load_state_dict_strict(model, state, source=str(path))
    return model.eval()
