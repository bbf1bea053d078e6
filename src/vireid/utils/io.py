"""Atomic file writes and safe loading of checkpoints.

Every file vireid writes goes through :func:`atomic_write` (temporary file in the
same directory, fsync, rename), so a crash never leaves a half-written file.
Checkpoints of other tools are read with ``torch.load(weights_only=True)`` and a
minimal allow-list; vireid's own weights are safetensors.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

import torch

from vireid.errors import CheckpointError


def current_umask() -> int:
    """The process umask (read without changing it for longer than the call)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def ordinary_permissions(path: str | os.PathLike) -> None:
    """Give ``path`` the permissions ``open``/``mkdir`` would have (0666/0777 minus the umask):
    ``mkstemp``/``mkdtemp`` create 0600/0700, which must not survive the rename into place."""
    mode = 0o777 if os.path.isdir(path) else 0o666
    os.chmod(path, mode & ~current_umask())


def make_temp_dir(prefix: str, dir: str | os.PathLike, suffix: str = "") -> Path:
    """A fresh private temporary folder in ``dir`` with ordinary permissions (it is renamed into
    place once complete)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=dir))
    ordinary_permissions(tmp)
    return tmp


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success fsync and rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    ordinary_permissions(tmp)  # mkstemp creates 0600
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through :func:`atomic_write` (plain tensors/containers only)."""
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def save_safetensors(
    tensors: Mapping[str, torch.Tensor], path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Write a safetensors file atomically (tensors made contiguous and detached)."""
    from safetensors.torch import save

    data = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    blob = sorted_header(save(data, metadata=dict(metadata) if metadata else None))
    with atomic_write(path, "wb") as fh:
        fh.write(blob)


def sorted_header(blob: bytes) -> bytes:
    """A safetensors byte string with its JSON header keys sorted (metadata included).

    safetensors serialises the metadata map in hash order, so the same tensors and metadata can
    give different bytes; the format (8-byte little-endian header length, JSON header padded with
    spaces to a multiple of 8, data) lets us rewrite the header alone -- offsets are relative to
    the data section and do not change.
    """
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + blob[8 + n :]


def load_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file; returns (tensors, metadata)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    return tensors, dict(meta)


def _numpy_safe_globals() -> list:
    """numpy objects that ``torch.save`` of numpy scalars/arrays pickles.

    The authors' DEEN checkpoints store ``cmc`` (ndarray) and ``mAP``/``mINP``
    (numpy floats); these are the only non-torch objects we allow.
    """
    import numpy as np

    allowed: list = [np.dtype, np.ndarray]
    core = getattr(np, "_core", None) or np.core
    multiarray = core.multiarray
    allowed += [multiarray._reconstruct, multiarray.scalar]
    for name in ("float64", "float32", "int64", "int32", "bool_"):
        allowed.append(type(np.dtype(name)))
    return allowed


def safe_torch_load(path: str | os.PathLike, allow_numpy: bool = False) -> Any:
    """``torch.load(weights_only=True)`` with a clear error; optionally allow numpy scalars."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        if allow_numpy:
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(unreadable_torch_file(path, exc)) from None


def unreadable_torch_file(path: str | os.PathLike, exc: BaseException) -> str:
    """Our one-line message for a file ``torch.load(weights_only=True)`` refused (torch's own
    message suggests ``weights_only=False``, i.e. running the file's code: never do that)."""
    import re

    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"[Uu]nsupported global: ([\w.]+)", text)
    if found:
        return (
            f"{path}: holds Python objects other than tensors ({found.group(1)}), which vireid does not "
            "unpickle (they could run code); save the state dict alone (torch.save(model.state_dict(), "
            "path)) or as .safetensors"
        )
    return (
        f"{path}: not a readable PyTorch weights file (corrupt, truncated, or another kind of file); "
        "expected a .pth/.pt/.t file written by torch.save, or a .safetensors file"
    )


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a bare state dict from ``.safetensors`` or a ``.pth``/``.pt``/``.bin`` file.

    Wrapped dicts (``{"state_dict": ...}``, ``{"model": ...}``, ``{"net": ...}``)
    are unwrapped.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_safetensors(path)[0]
    obj = safe_torch_load(path, allow_numpy=True)
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "net"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: does not contain a state dict of tensors")
    return dict(obj)
