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

#: the distance names :func:`pairwise_distance` and :func:`query_gallery_distance` accept
DISTANCES = ("euclidean", "sqeuclidean", "cosine", "inner")


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D (N, D) array of descriptors, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.float()
    return t


def pairwise_distance(a: Any, b: Any, metric: str = "euclidean", block_rows: int = 4096) -> np.ndarray | torch.Tensor:
    """(len(a), len(b)) distance matrix under ``metric``."""
    if metric not in DISTANCES:
        raise VireidError(f"unknown distance metric {metric!r}; expected one of {', '.join(DISTANCES)}")
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
            blk = ta[s : s + block_rows]
            prod = blk @ tb.T
            if metric == "cosine":
                out[s : s + block_rows] = 1.0 - prod
            elif metric == "inner":
                out[s : s + block_rows] = -prod
            else:
                d = ((blk * blk).sum(1)[:, None] + b_sq[None, :] - 2.0 * prod).clamp_(min=0.0)
                out[s : s + block_rows] = d.sqrt_() if metric == "euclidean" else d
    return out if torch_out else out.cpu().numpy()


def query_gallery_distance(query: Any, gallery: Any, metric: str = "euclidean", *, rerank: bool = False) -> Any:
    """Query x gallery distances under ``metric``, optionally re-ranked; the one definition used by
    ``vireid test`` (``inner``), ``vireid evaluate`` and ``vireid visualize ranks``.

    ``inner`` is ``-(query @ gallery.T)`` in one product (the evaluator's distance, exactly);
    ``rerank`` is k-reciprocal re-ranking (Zhong et al., CVPR 2017; k1=20, k2=6, lambda=0.3) of
    the ``metric`` distances -- for ``inner``, of Euclidean distances between the L2-normalised
    descriptors (inner products are not distances).  numpy in -> numpy out, torch in -> torch
    out (float32 after re-ranking).
    """
    if metric not in DISTANCES:
        raise VireidError(f"unknown distance metric {metric!r}; expected one of {', '.join(DISTANCES)}")
    torch_out = isinstance(query, torch.Tensor) and isinstance(gallery, torch.Tensor)
    if metric == "inner":
        q, g = _as_tensor(query, "query"), _as_tensor(gallery, "gallery")
        if q.shape[1] != g.shape[1]:
            raise ShapeError(f"descriptor sizes differ: {q.shape[1]} (query) vs {g.shape[1]} (gallery)")
        if not rerank:
            dist = -(q @ g.t())
            return dist if torch_out else dist.cpu().numpy()
        query, gallery, metric = F.normalize(q, dim=1), F.normalize(g, dim=1), "euclidean"
    dist = pairwise_distance(query, gallery, metric)
    if not rerank:
        return dist
    from vireid.evaluation.rerank import re_rank

    out = re_rank(dist, pairwise_distance(query, query, metric), pairwise_distance(gallery, gallery, metric))
    return torch.from_numpy(out.astype(np.float32)) if torch_out else out
