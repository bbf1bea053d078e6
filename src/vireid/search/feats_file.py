"""An index's ``feats.safetensors``: its header checked against the file before anything is read,
and its rows read by position.

The file is never memory-mapped: a mapping of a file that is truncated while in use delivers
SIGBUS on the next access (the process dies without a message), while a positional read simply
comes back short, which :class:`FeatsFile` turns into one line naming the file.  Reading the rows
a search needs costs a copy from the page cache (a few rows per query for the exact rescoring).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vireid.errors import JSONError, VireidError
from vireid.utils.jsonio import json_loads

MAX_HEADER = 100 << 20  # bytes of JSON header accepted (vireid writes a few hundred)


@dataclass(frozen=True)
class FeatsHeader:
    """Where the (N, D) float32 ``feats`` tensor lies in the file."""

    path: Path
    n: int
    d: int
    offset: int  # of the first byte of row 0


def read_feats_header(path: Path) -> FeatsHeader:
    """The ``feats`` entry of a safetensors file, checked: a header of sane length, a float32
    (N, D) tensor with N, D >= 1 whose bytes match its shape, and a file exactly as long as the
    header says (a truncated or extended file is refused before any allocation)."""

    def bad(why: str) -> VireidError:
        return VireidError(f"{path}: {why}")

    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise bad(f"not a safetensors file ({size} bytes)")
            hlen = int.from_bytes(head, "little")
            if hlen > min(MAX_HEADER, size - 8):
                raise bad(f"not a safetensors file (header of {hlen} bytes in a file of {size})")
            text = fh.read(hlen)
    except OSError as exc:
        raise bad(f"cannot read ({exc.strerror or exc})") from None
    try:
        header = json_loads(text, str(path))
    except JSONError as exc:
        raise bad(f"not a safetensors file (its header: {exc.why})") from None
    if not isinstance(header, dict):
        raise bad("not a safetensors file (its header is not a JSON object)")
    info = header.get("feats")
    if not isinstance(info, dict):
        raise bad("has no 'feats' tensor")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype != "F32":
        raise bad(f"'feats' must be float32 (F32), got {dtype!r}")
    if not (isinstance(shape, list) and len(shape) == 2 and all(type(s) is int and s >= 1 for s in shape)):
        raise bad(f"'feats' must have a shape (N, D) with N, D >= 1, got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)):
        raise bad(f"'feats' has invalid data_offsets {offsets!r}")
    n, d = shape
    begin, end = offsets
    if end - begin != n * d * 4:
        raise bad(f"'feats' {n} x {d} float32 needs {n * d * 4} bytes, its offsets give {end - begin}")
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and _offsets_ok(v)]
    if len(ends) != len(header) - ("__metadata__" in header):
        raise bad("has a tensor entry without valid data_offsets")
    expected = 8 + hlen + max(ends)
    if size != expected:
        what = "truncated" if size < expected else "longer than its header says"
        raise bad(f"{what}: {size} bytes, the header describes {expected}")
    return FeatsHeader(path, n, d, 8 + hlen + begin)


def _offsets_ok(v) -> bool:
    o = isinstance(v, dict) and v.get("data_offsets")
    return isinstance(o, list) and len(o) == 2 and all(type(x) is int and x >= 0 for x in o) and o[0] <= o[1]


class FeatsFile:
    """Rows of the ``feats`` tensor read from disk on demand (``GalleryIndex.load(..., mmap=True)``).

    ``shape`` is (N, D); :meth:`rows` reads a range, :meth:`take` a set of rows.  The file stays
    open, so an index folder replaced meanwhile keeps being read consistently (the old file); a
    file cut short raises :class:`VireidError`."""

    def __init__(self, header: FeatsHeader):
        self.header = header
        self.path = header.path
        self.shape = torch.Size((header.n, header.d))
        self.dtype = torch.float32
        self._fd = os.open(header.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._lock = threading.Lock()  # only where os.preadv is missing (seek + read)

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    def _read(self, view: memoryview, offset: int) -> None:
        done = 0
        while done < len(view):
            if hasattr(os, "preadv"):
                got = os.preadv(self._fd, [view[done:]], offset + done)
            else:  # pragma: no cover - platforms without preadv
                with self._lock:
                    os.lseek(self._fd, offset + done, os.SEEK_SET)
                    got = os.readv(self._fd, [view[done:]])
            if got <= 0:
                raise VireidError(
                    f"{self.path}: the file was cut short while in use (read {done} of {len(view)} bytes at "
                    f"offset {offset}); rebuild the index"
                )
            done += got

    def rows(self, a: int, b: int, out: Tensor | None = None) -> Tensor:
        """Rows ``a:b`` as a float32 (b - a, D) tensor, read into ``out`` (contiguous) if given.
        Positional reads: threads may read one file at once."""
        d = self.shape[1]
        out = torch.empty(b - a, d) if out is None else out
        self._read(memoryview(out.numpy()).cast("B"), self.header.offset + a * d * 4)
        return out

    def take(self, idx: Tensor) -> Tensor:
        """Rows ``idx`` (any order, repeats allowed) as a new (len(idx), D) tensor; each run of
        consecutive rows is one read, straight into the result (distinct rows in ascending order,
        as the rescoring asks for them, are not copied again)."""
        uniq, inverse = torch.unique(idx, return_inverse=True)
        row = self.shape[1] * 4
        got = torch.empty(len(uniq), self.shape[1])
        view = memoryview(got.numpy()).cast("B")
        u = uniq.numpy()
        starts = np.flatnonzero(np.diff(u, prepend=-2) != 1)
        first = u[starts].tolist()
        for s, e, r in zip(starts.tolist(), [*starts[1:].tolist(), len(u)], first, strict=True):
            part, offset = view[s * row : e * row], self.header.offset + r * row
            done = os.preadv(self._fd, [part], offset) if hasattr(os, "preadv") else 0
            if done != len(part):  # a short read: finish it, or say the file was cut
                self._read(part[done:], offset + done)
        if len(uniq) == len(idx) and bool((idx[1:] > idx[:-1]).all()):
            return got
        return got[inverse]

    def read(self) -> Tensor:
        """All rows, as a new tensor."""
        return self.rows(0, self.shape[0], out=torch.empty(self.shape))
