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


def state_dict_mismatches(
    module: nn.Module, state: Mapping[str, torch.Tensor]
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
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    )
    return missing, unexpected, mismatched


def load_state_dict_strict(
    module: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint", strict: bool = True
) -> tuple[list[str], list[str]]:
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


def weights_sha256(module_or_state: nn.Module | Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a model's tensors (names, dtypes, shapes and values, in sorted name order).

    It identifies the weights whatever file holds them: a re-saved copy, a checkpoint with other
    metadata or an authors' file converted to vireid's format hash the same.
    """
    import hashlib

    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(f"{k}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


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
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "architecture": spec_of(model).architecture,
        "kwargs": dict(kwargs),
    }


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


def is_vireid_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a safetensors file in vireid's model format (reads the header only)."""
    try:
        from safetensors import safe_open

        with safe_open(os.fspath(path), framework="pt") as fh:
            return (fh.metadata() or {}).get("format") == FORMAT_NAME
    except Exception:  # not a safetensors file
        return False


def read_model_checkpoint(
    path: str | os.PathLike,
) -> tuple[dict[str, torch.Tensor], str, dict[str, Any], dict[str, Any]]:
    """``(state, registry name, kwargs, metadata)`` of a file in vireid's format."""
    from vireid.models.registry import model_spec

    state, meta = read_weights(path)
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path}: not a vireid model checkpoint (metadata 'format' is {meta.get('format')!r}, "
            f"expected {FORMAT_NAME!r}; bare state dicts cannot be rebuilt)"
        )
    kwargs, arch = meta.get("kwargs"), meta.get("architecture")
    if not isinstance(kwargs, dict) or not isinstance(arch, str):
        raise CheckpointError(
            f"{path}: malformed vireid checkpoint metadata (needs 'architecture' and a JSON object 'kwargs')"
        )
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


# --------------------------------------------------------------------------- fine-tuning
def _class_dims_only(a: tuple, b: tuple, n_ckpt: Any, n_own: Any) -> bool:
    """Whether shapes ``a`` (checkpoint) and ``b`` (model) differ only where one has ``n_ckpt``
    classes and the other ``n_own`` (a classifier sized for another number of identities)."""
    return (
        len(a) == len(b)
        and n_ckpt != n_own
        and all(x == y or (x == n_ckpt and y == n_own) for x, y in zip(a, b, strict=True))
    )


def init_from_checkpoint(model: nn.Module, path: str | os.PathLike) -> str:
    """Start ``model`` from a vireid checkpoint's weights (fine-tuning) and return the report.

    Strict: the checkpoint must hold the same architecture, and every tensor must fit by name
    and shape -- except tensors sized by the number of identities when the checkpoint was
    trained on another number (the classifier), which keep their fresh initialisation.
    Anything else missing, unexpected or of another shape is one :class:`CheckpointError`.
    The report names what was loaded, what was left and constructor arguments that differ.
    """
    from vireid.models.registry import model_spec, spec_of

    target = unwrap_model(model)
    state, name, kwargs, _ = read_model_checkpoint(path)
    own_spec = spec_of(target)
    if model_spec(name).architecture != own_spec.architecture:
        raise CheckpointError(
            f"{path}: holds a {model_spec(name).name} model, but the config builds "
            f"{own_spec.name}; train.init_from needs a checkpoint of the same architecture"
        )
    own_kwargs = dict(getattr(target, "config", {}) or {})
    n_ckpt, n_own = kwargs.get("num_classes"), own_kwargs.get("num_classes")
    missing, unexpected, _ = state_dict_mismatches(target, state)
    own = target.state_dict()
    left, bad = [], []
    for k in sorted(own):
        if k not in state or tuple(state[k].shape) == tuple(own[k].shape):
            continue
        text = f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        (left if _class_dims_only(tuple(state[k].shape), tuple(own[k].shape), n_ckpt, n_own) else bad).append(text)
    problems = [
        f"{len(v)} {what}: {_listing(v)}"
        for what, v in (
            ("shape-mismatched key(s)", bad),
            ("missing key(s)", missing),
            ("unexpected key(s)", unexpected),
        )
        if v
    ]
    if problems:
        raise CheckpointError(
            f"{path}: does not fit the configured {own_spec.name} (train.init_from loads every "
            f"tensor but a classifier of another size); " + "; ".join(problems)
        )
    skip = {t.split(":")[0] for t in left}
    target.load_state_dict({k: v for k, v in state.items() if k not in skip}, strict=False)
    loaded = len([k for k in state if k not in skip])
    report = f"init_from {path}: loaded {loaded} of {len(own)} tensors"
    if left:
        report += f"; left at initialisation ({n_ckpt} identities in the checkpoint, {n_own} here): " + _listing(left)

    def same(k: str) -> bool:
        return json.dumps(kwargs.get(k), sort_keys=True, default=str) == json.dumps(
            own_kwargs.get(k), sort_keys=True, default=str
        )

    differ = sorted(k for k in set(kwargs) | set(own_kwargs) if k != "num_classes" and not same(k))
    if differ:
        report += "; constructor arguments differ: " + ", ".join(
            f"{k} {kwargs.get(k)!r} (checkpoint) vs {own_kwargs.get(k)!r}" for k in differ
        )
    return report
