"""Pairwise distances between descriptor sets (query x gallery).

``sqeuclidean``: ||a||^2 + ||b||^2 - 2 a.b (clamped at 0); ``euclidean``: its square
root; ``cosine``: 1 - cos(a, b) (each row L2-normalised, eps 1e-12); ``inner``: -a.b, the
distance ``vireid test`` scores (DEEN's ``test.py`` ranks by inner products of unnormalised
descriptors; on L2-normalised ones it ranks as ``cosine``).  Computed with
torch matrix products in row blocks; numpy in -> numpy out (float64 for float64
input, else float32), torch in -> torch out on the input's device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vireid.errors import ShapeError, VireidError

METRICS = ("euclidean", "sqeuclidean", "cosine", "inner")


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D (N, D) array of descriptors, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.float()
    return t


def pairwise_distance(a: Any, b: Any, metric: str = "euclidean",
                      block_rows: int = 4096) -> np.ndarray | torch.Tensor:
    """(len(a), len(b)) distance matrix under ``metric``."""
    if metric not in METRICS:
        raise VireidError(f"unknown distance metric {metric!r}; expected one of {', '.join(METRICS)}")
    torch_out = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    ta, tb = _as_tensor(a, "a"), _as_tensor(b, "b")
    if ta.shape[1] != tb.shape[1]:
        raise ShapeError(f"descriptor sizes differ: {ta.shape[1]} (query) vs {tb.shape[1]} (gallery)")
    dtype = torch.float64 if torch.float64 in (ta.dtype, tb.dtype) else torch.float32
    ta, tb = ta.to(dtype), tb.to(device=ta.device, dtype=dtype)
    if metric == "cosine":
        ta, tb = F.normalize(ta, dim=1, eps=1e-12), F.normalize(tb, dim=1, eps=1e-12)
    out = torch.empty(ta.shape[0], tb.shape[0], dtype=dtype, device=ta.device)
    b_sq = (tb * tb).sum(1)
    with torch.no_grad():
        for s in range(0, ta.shape[0], block_rows):
            blk = ta[s:s + block_rows]
            prod = blk @ tb.T
            if metric == "cosine":
                out[s:s + block_rows] = 1.0 - prod
            elif metric == "inner":
                out[s:s + block_rows] = -prod
            else:
                d = ((blk * blk).sum(1)[:, None] + b_sq[None, :] - 2.0 * prod).clamp_(min=0.0)
                out[s:s + block_rows] = d.sqrt_() if metric == "euclidean" else d
    return out if torch_out else out.cpu().numpy()
