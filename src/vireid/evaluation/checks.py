"""Validation of evaluation inputs (shapes, finiteness, protocol, ids).

Every problem a user can cause raises :class:`vireid.errors.ShapeError` (array
shape or content) or :class:`vireid.errors.VireidError` (protocol, camera ids),
never a raw numpy error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vireid.errors import ShapeError, VireidError
from vireid.evaluation.protocols import PROTOCOLS, EvalProtocol, get_protocol

__all__ = ["PROTOCOLS", "EvalInputs", "check_inputs", "to_numpy"]


def to_numpy(x: Any) -> np.ndarray:
    """numpy view of an array-like or a (CPU or GPU) torch tensor."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _ids(x: Any, name: str, length: int) -> np.ndarray:
    arr = to_numpy(x)
    if arr.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D array of length {length}, got shape {arr.shape}")
    if len(arr) != length:
        raise ShapeError(f"{name}: expected {length} entries to match the distance matrix, got {len(arr)}")
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    raise ShapeError(f"{name}: expected integer ids, got dtype {arr.dtype}")


def _check_finite(dist: np.ndarray, block_elems: int = 1 << 22) -> None:
    """Raise on NaN/inf, scanning row blocks so memory stays bounded."""
    step = max(1, block_elems // max(1, dist.shape[1]))
    for start in range(0, dist.shape[0], step):
        block = dist[start : start + step]
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(block.sum(dtype=np.float64)):  # NaN and inf propagate
                continue
        finite = np.isfinite(block)  # the sum overflowed or something is non-finite
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            what = "NaN" if np.isnan(block[row, col]) else "inf"
            raise ShapeError(
                f"distmat: non-finite entry ({what}) at (query {start + row}, "
                f"gallery {col}); distances must be finite numbers"
            )


@dataclass(frozen=True)
class EvalInputs:
    """Validated evaluation inputs; ``distmat`` keeps its floating dtype."""

    distmat: np.ndarray
    q_pids: np.ndarray
    g_pids: np.ndarray
    q_camids: np.ndarray | None
    g_camids: np.ndarray | None
    protocol: str
    max_rank: int
    rules: EvalProtocol


def check_inputs(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any = None,
    g_camids: Any = None,
    *,
    protocol: str | EvalProtocol,
    max_rank: int = 20,
) -> EvalInputs:
    """Validate and normalise the arguments of :func:`vireid.evaluation.evaluate`."""
    rules = get_protocol(protocol)
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise VireidError(f"max_rank must be a positive integer, got {max_rank!r}")
    dist = to_numpy(distmat)
    if dist.ndim != 2:
        raise ShapeError(f"distmat: expected a 2-D (num_query, num_gallery) matrix, got shape {dist.shape}")
    num_q, num_g = dist.shape
    if num_q == 0:
        raise ShapeError("distmat: the query set is empty (0 rows)")
    if num_g == 0:
        raise ShapeError("distmat: the gallery is empty (0 columns)")
    if dist.dtype.kind not in "fiu":
        raise ShapeError(f"distmat: expected real numbers, got dtype {dist.dtype}")
    if dist.dtype.kind == "f":
        _check_finite(dist)
    qp = _ids(q_pids, "q_pids", num_q)
    gp = _ids(g_pids, "g_pids", num_g)
    qc = gc = None
    if rules.needs_camids:
        if q_camids is None or g_camids is None:
            raise VireidError(
                f"protocol {protocol!r} needs q_camids and g_camids (its filtering depends on the cameras)"
            )
    if q_camids is not None:
        qc = _ids(q_camids, "q_camids", num_q)
    if g_camids is not None:
        gc = _ids(g_camids, "g_camids", num_g)
    return EvalInputs(dist, qp, gp, qc, gc, rules.name, int(max_rank), rules)
