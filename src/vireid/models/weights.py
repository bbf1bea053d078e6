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

from vireid.errors import CheckpointError, ConfigError, JSONError
from vireid.utils.jsonio import json_loads
from vireid.utils.paths import file_problem

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


def _family(dtype: torch.dtype) -> str:
    if dtype.is_floating_point:
        return "floating-point"
    if dtype.is_complex:
        return "complex"
    return "boolean" if dtype == torch.bool else "integer"


def check_tensor_values(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse tensors a load would silently corrupt: another kind of number than the model's
    (integer weights cast to float hold whole numbers only, float counters truncate) and
    floating-point values that are NaN or infinite (the weights of a diverged run give NaN
    descriptors).  One :class:`CheckpointError` naming the tensors."""
    own = module.state_dict()
    kinds = [
        f"{k} ({state[k].dtype}, the model's is {own[k].dtype})"
        for k in sorted(own)
        if k in state and _family(state[k].dtype) != _family(own[k].dtype)
    ]
    if kinds:
        raise CheckpointError(
            f"{source}: {len(kinds)} tensor(s) hold another kind of number than the model's: {_listing(kinds)}; "
            "loading would cast them (integer weights make the descriptors zero); is the file corrupt or "
            "converted wrongly?"
        )
    bad = []
    for k in sorted(state):
        t = state[k]
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            nan, n = int(torch.isnan(t).sum()), t.numel()
            bad.append(f"{k} ({nan} NaN, {int((~torch.isfinite(t)).sum()) - nan} inf of {n})")
    if bad:
        raise CheckpointError(
            f"{source}: the weights are not finite numbers in {len(bad)} tensor(s): {_listing(bad)}; "
            "a model with them gives NaN descriptors (did its training diverge?)"
        )


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
    check_tensor_values(module, state, source)
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


def decode_metadata(meta: Mapping[str, str], where: str = "checkpoint") -> dict[str, Any]:
    """Inverse of :func:`encode_metadata` (values that are not JSON stay strings: they were written as
    strings).  A value nested deeper than :data:`~vireid.utils.jsonio.MAX_JSON_DEPTH` is no string
    vireid wrote either: a :class:`CheckpointError` naming ``where`` (the file) and the key."""
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json_loads(v, f"{where}: metadata {k!r}")
        except JSONError as exc:
            if exc.too_deep:
                raise CheckpointError(str(exc)) from None
            out[k] = v
    return out


def model_metadata(model: nn.Module) -> dict[str, Any]:
    """The metadata that rebuilds ``model``: format, registry architecture and constructor kwargs, and,
    for a model built with plugins (its class or a sub-module's registered outside vireid), the
    plugin modules it needs (``"plugins"``; absent for vireid's own models, whose files stay as they were)."""
    from vireid.core.registry import plugin_of
    from vireid.models.registry import spec_of

    kwargs = getattr(model, "config", None)
    if not isinstance(kwargs, Mapping):
        raise CheckpointError(f"{type(model).__name__} has no 'config' (constructor kwargs) to save")
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "architecture": spec_of(model).architecture,
        "kwargs": dict(kwargs),
    }
    needed = sorted({p for m in model.modules() if (p := plugin_of(type(m))) is not None})
    if needed:
        meta["plugins"] = needed
    return meta


def save_weights(
    module: nn.Module, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None, *, kind: Any = None
) -> None:
    """Write ``module``'s state dict and ``metadata`` as safetensors (atomic, deterministic bytes),
    as the output ``kind`` (default: a model checkpoint; the engine's are a run's checkpoints)."""
    from vireid.utils.io import save_safetensors
    from vireid.utils.outputs import CHECKPOINT

    # clone: safetensors refuses tensors that share storage
    state = {k: v.detach().cpu().clone() for k, v in unwrap_model(module).state_dict().items()}
    save_safetensors(state, path, encode_metadata(metadata or {}), kind=kind or CHECKPOINT)


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state dict, decoded metadata)`` of any safetensors file."""
    from vireid.utils.io import load_safetensors

    tensors, meta = load_safetensors(path)
    return tensors, decode_metadata(meta, str(path))


def save_model(model: nn.Module, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``model`` in vireid's format (weights + what rebuilds it + ``metadata``)."""
    save_weights(model, path, {**(metadata or {}), **model_metadata(unwrap_model(model))})


def is_safetensors(path: str | os.PathLike) -> bool:
    """Whether the file starts like a safetensors file (8-byte header length, then ``{``); a pipe
    or a device is never opened (the read would wait)."""
    if file_problem(path) is not None:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


def is_vireid_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a safetensors file in vireid's model format (reads the header only)."""
    if file_problem(path) is not None:
        return False
    try:
        from safetensors import safe_open

        with safe_open(os.fspath(path), framework="pt") as fh:
            return (fh.metadata() or {}).get("format") == FORMAT_NAME
    except Exception:  # not a safetensors file
        return False


def strip_module_prefix(state: Mapping[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """``state`` with the ``module.`` prefix DataParallel / DDP add to every key removed (the one
    place it is stripped: the authors' ``*.t`` files and timm/torchvision files alike)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        name = key[len("module.") :] if isinstance(key, str) and key.startswith("module.") else key
        if name in out:
            raise CheckpointError(f"{source}: holds both {name!r} and 'module.{name}'")
        out[name] = value
    return out


def read_model_checkpoint(
    path: str | os.PathLike,
) -> tuple[dict[str, torch.Tensor], str, dict[str, Any], dict[str, Any]]:
    """``(state, registry name, kwargs, metadata)`` of a file in vireid's format.  A model from a
    plugin that is not loaded is one line naming the plugin (:func:`vireid.core.plugins.require`)."""
    from vireid.core import plugins
    from vireid.models.registry import model_spec

    state, meta = read_weights(path)
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path}: not a vireid model checkpoint (metadata 'format' is {meta.get('format')!r}, "
            f"expected {FORMAT_NAME!r}; bare state dicts cannot be rebuilt)"
        )
    if str(meta.get("version", FORMAT_VERSION)) != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: a vireid model checkpoint of format version {meta.get('version')!r}, which this vireid "
            f"does not read (it reads version {FORMAT_VERSION}; written by a newer vireid?)"
        )
    kwargs, arch, needed = meta.get("kwargs"), meta.get("architecture"), meta.get("plugins", [])
    if not isinstance(kwargs, dict) or not isinstance(arch, str):
        raise CheckpointError(
            f"{path}: malformed vireid checkpoint metadata (needs 'architecture' and a JSON object 'kwargs')"
        )
    if not isinstance(needed, list) or not all(isinstance(p, str) for p in needed):
        raise CheckpointError(
            f"{path}: malformed vireid checkpoint metadata ('plugins' must be a list of module names)"
        )
    plugins.require(needed, str(path), what=f"its model ({arch})")
    try:
        name = model_spec(arch).name
    except ConfigError as exc:  # an architecture this version does not know
        raise CheckpointError(f"{path}: {exc}") from None
    return state, name, kwargs, meta


def rebuild_model(path: str | os.PathLike, expected: type | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The one way a model is rebuilt from a file in vireid's format: ``(model in eval mode with its
    weights loaded strictly, the file's metadata)``; every constructor argument is checked against its
    declaration first, and ``expected`` (a class) must match."""
    from vireid.models.registry import create_model

    state, name, kwargs, meta = read_model_checkpoint(path)
    try:
        model = create_model(name, kwargs, source=f"{path}: metadata 'kwargs'")
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    if expected is not None and not isinstance(model, expected):
        raise CheckpointError(f"{path}: holds a {type(model).__name__}, not a {expected.__name__}")
    load_state_dict_strict(model, state, source=str(path))
    return model.eval(), meta


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
