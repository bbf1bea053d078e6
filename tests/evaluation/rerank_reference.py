"""Straightforward k-reciprocal re-ranking (Zhong et al., CVPR 2017), one row at a time.

Dense matrices and Python loops, for testing :func:`vireid.evaluation.re_rank` only.
"""

from __future__ import annotations

import numpy as np


def _reciprocal_neighbours(rank: np.ndarray, i: int, k: int) -> list[int]:
    """R(i, k): members of the k+1 nearest of i that also have i among their k+1 nearest."""
    return [int(j) for j in rank[i, : k + 1] if i in rank[j, : k + 1]]


def re_rank_reference(qg, qq, gg, k1=20, k2=6, lambda_value=0.3):
    nq = qg.shape[0]
    full = np.block([[qq, qg], [qg.T, gg]])
    sq = np.square(full).astype(np.float32)
    dist = (sq / sq.max(axis=0)).T  # row i = column i, divided by that column's maximum
    n = len(dist)
    k1 = min(k1, n - 1)
    rank = np.argsort(dist, axis=1, kind="stable")
    half = int(np.around(k1 / 2.0))

    v = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        r = _reciprocal_neighbours(rank, i, k1)
        expanded = set(r)
        for c in r:
            rc = _reciprocal_neighbours(rank, c, half)
            if len(set(rc) & set(r)) > 2.0 / 3.0 * len(rc):
                expanded |= set(rc)
        members = sorted(expanded)
        weights = np.exp(-dist[i, members].astype(np.float64))
        v[i, members] = weights / weights.sum()

    if k2 > 1:
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(n)])

    final = np.zeros((nq, n - nq))
    for i in range(nq):
        for j in range(nq, n):
            overlap = np.minimum(v[i], v[j]).sum()
            union = np.maximum(v[i], v[j]).sum()
            jaccard = 1.0 - overlap / union
            final[i, j - nq] = (1 - lambda_value) * jaccard + lambda_value * dist[i, j]
    return final
