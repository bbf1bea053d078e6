"""Atomic file writes and safe loading of checkpoints.

Every file vireid writes goes through :func:`atomic_write` (temporary file in the same
directory, fsync, rename), so a crash never leaves a half-written file; its ``kind`` (a
:class:`vireid.utils.kinds.Kind`) is checked against the output policy
(:func:`vireid.utils.outputs.check_file`) first.  A write that fails (a full disk, a read-only
folder) removes its temporary file, leaves the previous file as it was and raises one
:class:`~vireid.errors.OutputError` line.  Text is UTF-8 whatever the locale.
Checkpoints of other tools are read with ``torch.load(weights_only=True)`` and a minimal
allow-list; vireid's own weights are safetensors.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

import torch

from vireid.errors import CheckpointError, OutputError
from vireid.utils.kinds import STAGED, Kind
from vireid.utils.paths import file_problem


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
    """A fresh private temporary folder in ``dir`` with ordinary permissions, where a folder
    output is assembled (:func:`vireid.utils.outputs.staging_dir`)."""
    from vireid.utils.outputs import staging_dir

    return staging_dir(prefix, dir, suffix)


class _Recorder:
    """A file object that remembers the ``OSError`` of a write, for writers (``torch.save``) that
    turn it into another exception."""

    def __init__(self, fh: IO) -> None:
        self._fh, self.error = fh, None

    def write(self, data: Any) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, kind: Kind | None = None) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success fsync and rename it.

    ``kind``: what is written, checked against the output policy before anything is (every
    writer inside vireid passes it; None is for callers outside the library, e.g. tests).
    """
    path = Path(path)
    if kind is not None:
        from vireid.utils.outputs import check_file

        check_file(path, kind)
    intact = path.exists()
    tmp = None
    recorder = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        ordinary_permissions(tmp)  # mkstemp creates 0600
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            recorder = _Recorder(fh)
            yield recorder
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        failure = exc if isinstance(exc, OSError) else getattr(recorder, "error", None)
        if failure is not None and not isinstance(exc, OutputError):
            from vireid.utils.outputs import write_failed

            what = kind.noun if kind is not None and kind is not STAGED else ""
            raise write_failed(path, failure, what=what, intact=intact) from None
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, kind: Kind | None = None) -> None:
    with atomic_write(path, "wb", kind=kind) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, *, kind: Kind | None = None) -> None:
    """Write ``text`` as UTF-8 (the caller puts a YAML / Markdown kind's mark first:
    :func:`vireid.utils.marks.text_header`)."""
    with atomic_write(path, "w", kind=kind) as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, kind: Kind | None = None) -> None:
    """Write ``obj`` as JSON; a dict written with a ``kind`` carries its mark (``"vireid"``)."""
    if kind is not None and kind is not STAGED and isinstance(obj, dict):
        from vireid.utils.marks import json_mark

        obj = {**obj, **json_mark(kind)}
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", kind=kind)


def atomic_torch_save(obj: Any, path: str | os.PathLike, *, kind: Kind | None = None) -> None:
    """``torch.save`` through :func:`atomic_write` (plain tensors/containers only)."""
    with atomic_write(path, "wb", kind=kind) as fh:
        torch.save(obj, fh)


def save_safetensors(
    tensors: Mapping[str, torch.Tensor],
    path: str | os.PathLike,
    metadata: Mapping[str, str] | None = None,
    *,
    kind: Kind | None = None,
) -> None:
    """Write a safetensors file atomically (tensors made contiguous and detached); a ``kind``
    is recorded in the metadata (``vireid: KIND``, :func:`vireid.utils.marks.safetensors_mark`)."""
    from safetensors.torch import save

    meta = dict(metadata or {})
    if kind is not None and kind is not STAGED:
        from vireid.utils.marks import safetensors_mark

        meta.update(safetensors_mark(kind))
    data = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    blob = sorted_header(save(data, metadata=meta or None))
    atomic_write_bytes(path, blob, kind=kind)


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
    problem = file_problem(path)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
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


#: what a torch file vireid reads may hold: containers nested at most ``MAX_DEPTH`` deep and at most
#: ``MAX_ITEMS`` items counted along every path.  Pickle's memo lets a small file hold a list that
#: refers to itself or to one list many times over (the "billion laughs"): loading it is cheap, but
#: anything that walks it -- torch's optimizer loader, a copy -- expands it without bound.  vireid's
#: training states hold a few thousand items, 5 deep; an authors' checkpoint, a dict of tensors.
MAX_DEPTH, MAX_ITEMS = 32, 100_000


def check_bounded(obj: Any, where: str) -> None:
    """Refuse ``obj`` (read from ``where``) if walking it would pass :data:`MAX_DEPTH` or
    :data:`MAX_ITEMS`; iterative, so a deep object cannot exhaust Python's stack here."""
    stack, items = [(obj, 0)], 0
    while stack:
        x, depth = stack.pop()
        items += 1
        if items > MAX_ITEMS:
            raise CheckpointError(
                f"{where}: holds more than {MAX_ITEMS:,} items once its shared references are followed; "
                "vireid does not read it (a state dict or a vireid training state holds a few thousand)"
            )
        if isinstance(x, dict):
            children = [*x.keys(), *x.values()]
        elif isinstance(x, (list, tuple, set, frozenset)):
            children = list(x)
        else:
            continue
        if children and depth >= MAX_DEPTH:
            raise CheckpointError(f"{where}: holds containers nested more than {MAX_DEPTH} deep; not read")
        stack.extend((c, depth + 1) for c in children)


def safe_torch_load(path: str | os.PathLike, allow_numpy: bool = False) -> Any:
    """``torch.load(weights_only=True)`` with a clear error, its result bounded
    (:func:`check_bounded`); optionally allow numpy scalars."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    try:
        with warnings.catch_warnings():  # a file pickled with protocol 4: torch warns, then reads or refuses it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            if allow_numpy:
                with torch.serialization.safe_globals(_numpy_safe_globals()):
                    obj = torch.load(path, map_location="cpu", weights_only=True)
            else:
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(unreadable_torch_file(path, exc)) from None
    check_bounded(obj, str(path))
    return obj


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
