"""Features files: descriptors with identities, cameras and image paths.

One safetensors file per set (query, or one gallery trial): tensors ``feats``
(N x D float), ``pids`` and ``camids`` (N, int64); the header metadata holds
``format`` (``vireid.features/1``; another version is refused, none is read as this one: a file
another tool made), ``modality``, and JSON-encoded
``paths`` and ``meta`` (free-form, small).  Written atomically through the output policy
(:mod:`vireid.utils.outputs`); nothing is unpickled on reading.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vireid.errors import JSONError, ShapeError
from vireid.evaluation.checks import to_numpy
from vireid.utils.io import load_safetensors, save_safetensors
from vireid.utils.jsonio import json_loads

FORMAT = "vireid.features/1"
MODALITIES = ("visible", "infrared")


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Descriptors of one image set, as stored in a features file."""

    feats: np.ndarray  # (N, D) float32/float64
    pids: np.ndarray  # (N,) int64
    camids: np.ndarray  # (N,) int64
    paths: list[str] | None = None
    modality: str | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pids)


def _check(where: str, feats: np.ndarray, pids: np.ndarray, camids: np.ndarray, paths: Sequence[str] | None) -> None:
    if feats.ndim != 2:
        raise ShapeError(f"{where}: 'feats' must be a 2-D (N, D) array, got shape {feats.shape}")
    n = feats.shape[0]
    for name, arr in (("pids", pids), ("camids", camids)):
        if arr.ndim != 1 or len(arr) != n:
            raise ShapeError(f"{where}: '{name}' must have one entry per feature ({n}), got shape {arr.shape}")
    if paths is not None and len(paths) != n:
        raise ShapeError(f"{where}: 'paths' must have one entry per feature ({n}), got {len(paths)}")


def save_features(
    path: str | os.PathLike,
    feats: Any,
    pids: Any,
    camids: Any,
    paths: Sequence[str] | None = None,
    modality: str | None = None,
    meta: dict | None = None,
) -> None:
    """Write a features file atomically (see the module docstring for the layout)."""
    where = str(path)
    f = to_numpy(feats)
    if f.dtype.kind != "f":
        raise ShapeError(f"{where}: 'feats' must be floating point, got dtype {f.dtype}")
    p, c = to_numpy(pids), to_numpy(camids)
    if p.dtype.kind not in "iu" or c.dtype.kind not in "iu":
        raise ShapeError(f"{where}: 'pids' and 'camids' must be integers, got {p.dtype} and {c.dtype}")
    _check(where, f, p, c, paths)
    if modality is not None and modality not in MODALITIES:
        raise ShapeError(f"{where}: modality must be one of {MODALITIES}, got {modality!r}")
    header = {"format": FORMAT}
    if modality is not None:
        header["modality"] = modality
    if paths is not None:
        header["paths"] = json.dumps([str(x) for x in paths])
    if meta:
        try:
            header["meta"] = json.dumps(meta, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ShapeError(f"{where}: 'meta' must be JSON-serialisable ({exc})") from None
    tensors = {
        "feats": torch.from_numpy(np.ascontiguousarray(f)),
        "pids": torch.from_numpy(p.astype(np.int64)),
        "camids": torch.from_numpy(c.astype(np.int64)),
    }
    from vireid.utils.outputs import FEATURES

    save_safetensors(tensors, path, metadata=header, kind=FEATURES)


def load_features(path: str | os.PathLike) -> FeatureSet:
    """Read a features file written by :func:`save_features`."""
    where = str(Path(path))
    tensors, header = load_safetensors(path)  # CheckpointError if missing or unreadable
    fmt = header.get("format")
    if fmt is not None and fmt != FORMAT:
        known = fmt.startswith(FORMAT.split("/")[0] + "/")
        raise ShapeError(
            f"{where}: "
            + (
                f"a features file of format {fmt!r}, which this vireid does not read (it reads {FORMAT!r}; "
                "written by a newer vireid?)"
                if known
                else f"not a features file (its format is {fmt!r})"
            )
        )
    missing = [k for k in ("feats", "pids", "camids") if k not in tensors]
    if missing:
        raise ShapeError(
            f"{where}: not a features file, missing tensor(s) {', '.join(missing)} "
            f"(found: {', '.join(sorted(tensors)) or 'none'})"
        )
    t_feats, t_pids, t_camids = tensors["feats"], tensors["pids"], tensors["camids"]
    integer = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
    if not t_feats.is_floating_point() or t_pids.dtype not in integer or t_camids.dtype not in integer:
        raise ShapeError(
            f"{where}: expected float 'feats' and integer 'pids'/'camids', got "
            f"{t_feats.dtype}, {t_pids.dtype}, {t_camids.dtype}"
        )
    if t_feats.dtype in (torch.float16, torch.bfloat16):
        t_feats = t_feats.float()
    feats, pids, camids = t_feats.numpy(), t_pids.numpy(), t_camids.numpy()
    try:
        paths = json_loads(header["paths"], f"{where}: metadata 'paths'") if "paths" in header else None
        meta = json_loads(header["meta"], f"{where}: metadata 'meta'") if "meta" in header else {}
    except JSONError as exc:
        raise ShapeError(str(exc)) from None
    if paths is not None and (not isinstance(paths, list) or not all(isinstance(x, str) for x in paths)):
        raise ShapeError(f"{where}: metadata 'paths' must be a list of image paths (strings)")
    if not isinstance(meta, dict):
        raise ShapeError(f"{where}: metadata 'meta' must be a JSON object, got {type(meta).__name__}")
    if header.get("modality") not in (None, *MODALITIES):
        raise ShapeError(f"{where}: metadata 'modality' must be one of {MODALITIES}, got {header['modality']!r}")
    _check(where, feats, pids, camids, paths)
    finite = np.isfinite(feats).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        what = "NaN" if np.isnan(feats[row]).any() else "inf"
        raise ShapeError(
            f"{where}: descriptor {row} (of {len(finite)}) holds {what}; "
            f"{int((~finite).sum())} row(s) are not finite numbers"
        )
    return FeatureSet(
        feats=feats,
        pids=pids.astype(np.int64),
        camids=camids.astype(np.int64),
        paths=paths,
        modality=header.get("modality"),
        meta=meta,
    )
