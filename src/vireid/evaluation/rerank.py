"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017), vectorised and memory-bounded.

Follows the authors' released procedure (also used by torchreid and fast-reid):

1. ``d(p, q)`` = squared input distance over the whole set (queries + gallery), each
   row divided by the maximum of the corresponding column (original ``d``, eq. 1).
2. ``R(p, k1)``: k-reciprocal neighbours among the ``k1 + 1`` nearest (eq. 4); each
   candidate ``q`` in it adds its own ``R(q, round(k1/2))`` when more than 2/3 of that
   set lies in ``R(p, k1)`` (eq. 6, ``R*``).
3. ``V_p`` = Gaussian-kernel weights ``exp(-d(p, g))`` on ``R*``, normalised to sum 1
   (eq. 7); local query expansion averages ``V`` over the ``k2`` nearest (eq. 11).
4. Jaccard distance ``1 - sum min(V_p, V_g) / sum max(V_p, V_g)`` (eq. 10; the sum of
   maxima is ``2 - sum of minima`` since each ``V`` sums to 1), and the final distance
   ``(1 - lambda) d_J + lambda d`` (eq. 12).

Implementation: neighbour lists come from row blocks of ``d`` (never the full
``N x N`` ranking), ``V`` is kept sparse (at most ``(k1+1)(round(k1/2)+2)`` entries
per row before expansion) and the Jaccard sums are a sparse join over an inverted
index, in query chunks.  Memory is ``O(N (k1 + k2 k1^2))`` besides the inputs.
Neighbour lists use ``torch.topk``: at a tie exactly at the k-th neighbour, which
entry is inside is arbitrary, as with the authors' ``np.argsort``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vireid.errors import ShapeError, VireidError
from vireid.evaluation.checks import to_numpy

_BLOCK_ELEMS = 1 << 22


class _Dist:
    """Squared distances of the joint (query + gallery) set, column-normalised, by blocks."""

    def __init__(self, qg: np.ndarray, qq: np.ndarray, gg: np.ndarray) -> None:
        self.q, self.g = qg.shape
        self.qg2 = np.square(qg).astype(np.float32)
        self.qq2 = np.square(qq).astype(np.float32)
        self.gg2 = np.square(gg).astype(np.float32)
        col_q = np.maximum(self.qq2.max(axis=0), self.qg2.max(axis=1))
        col_g = np.maximum(self.qg2.max(axis=0), self.gg2.max(axis=0))
        self.col_max = np.concatenate([col_q, col_g]).astype(np.float32)
        self.col_max[self.col_max == 0] = 1.0  # all-zero column: leave it at zero

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows a..b of the normalised matrix: row i is column i of the squared matrix."""
        q = self.q
        parts = []
        if a < q:
            r = slice(a, min(b, q))
            parts.append(np.concatenate([self.qq2[:, r].T, self.qg2[r, :]], axis=1))
        if b > q:
            r = slice(max(a, q) - q, b - q)
            parts.append(np.concatenate([self.qg2[:, r].T, self.gg2[:, r].T], axis=1))
        block = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return block / self.col_max[a:b, None]

    def at(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Normalised distance ``d(i, j)`` for index arrays of equal shape."""
        q = self.q
        out = np.empty(i.shape, dtype=np.float32)
        iq, jq = i < q, j < q
        for mi, mj, get in (
            (iq, jq, lambda a, b: self.qq2[b, a]),
            (iq, ~jq, lambda a, b: self.qg2[a, b - q]),
            (~iq, jq, lambda a, b: self.qg2[b, a - q]),
            (~iq, ~jq, lambda a, b: self.gg2[b - q, a - q]),
        ):
            m = mi & mj
            out[m] = get(i[m], j[m])
        return out / self.col_max[i]


def _nearest(dist: _Dist, k: int) -> np.ndarray:
    """(N, k) indices of the k nearest entries of every row, nearest first."""
    n = dist.q + dist.g
    out = np.empty((n, k), dtype=np.int64)
    step = max(1, _BLOCK_ELEMS // n)
    for a in range(0, n, step):
        block = torch.from_numpy(dist.rows(a, min(a + step, n)))
        out[a : a + len(block)] = torch.topk(block, k, dim=1, largest=False, sorted=True).indices.numpy()
    return out


def _reciprocal(nbr: np.ndarray) -> np.ndarray:
    """mask[i, a]: ``i`` is also among the neighbours of ``nbr[i, a]`` (eq. 4)."""
    own = np.arange(len(nbr))[:, None, None]
    mask = np.empty(nbr.shape, dtype=bool)
    step = max(1, _BLOCK_ELEMS // (nbr.shape[1] ** 2))
    for a in range(0, len(nbr), step):
        s = slice(a, a + step)
        mask[s] = (nbr[nbr[s]] == own[s]).any(axis=2)
    return mask


def _expanded_sets(nbr: np.ndarray, k1: int) -> tuple[np.ndarray, np.ndarray]:
    """``R*(p, k1)`` of every row as (indices, valid) padded arrays (eq. 6)."""
    n = len(nbr)
    half = int(np.around(k1 / 2.0))
    big, small = nbr[:, : k1 + 1], nbr[:, : half + 1]
    big_ok, small_ok = _reciprocal(big), _reciprocal(small)
    small_size = small_ok.sum(axis=1)
    width = big.shape[1] * (1 + small.shape[1])
    idx = np.empty((n, width), dtype=np.int64)
    ok = np.empty((n, width), dtype=bool)
    step = max(1, _BLOCK_ELEMS // (big.shape[1] ** 2 * small.shape[1]))
    for a in range(0, n, step):
        s = slice(a, a + step)
        r, r_ok = big[s], big_ok[s]  # R(p, k1): (B, A)
        cand_set, cand_ok = small[r], small_ok[r]  # R(c, k1/2) per candidate: (B, A, H)
        in_r = (cand_set[..., None] == r[:, None, None, :]) & r_ok[:, None, None, :]
        inter = (in_r.any(axis=3) & cand_ok).sum(axis=2)  # |R(c, k1/2) ∩ R(p, k1)|
        take = r_ok & (inter > 2.0 / 3.0 * small_size[r])
        idx[s] = np.concatenate([r, cand_set.reshape(len(r), -1)], axis=1)
        ok[s] = np.concatenate([r_ok, (cand_ok & take[..., None]).reshape(len(r), -1)], axis=1)
    # remove duplicates: sort each row, invalid entries last
    keyed = np.where(ok, idx, n)
    keyed.sort(axis=1)
    ok = keyed < n
    ok[:, 1:] &= keyed[:, 1:] != keyed[:, :-1]
    return keyed, ok


def _to_csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int):
    """CSR (indptr, indices, data) summing duplicate (row, col) entries."""
    key = rows.astype(np.int64) * (n + 1) + cols
    uniq, inv = np.unique(key, return_inverse=True)
    data = np.bincount(inv.reshape(-1), weights=vals, minlength=len(uniq))
    r, c = np.divmod(uniq, n + 1)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n))])
    return indptr, c, data


def _encode(dist: _Dist, nbr: np.ndarray, k1: int, k2: int):
    """Sparse ``V`` (eq. 7) with local query expansion (eq. 11), as CSR."""
    n = len(nbr)
    idx, ok = _expanded_sets(nbr, k1)
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)
    w = np.zeros(idx.shape, dtype=np.float32)
    w[ok] = np.exp(-dist.at(rows[ok], idx[ok]))
    total = w.sum(axis=1, keepdims=True)
    np.divide(w, total, out=w, where=total > 0)  # an empty R* (no self-match) stays all-zero
    if k2 == 1:
        return _to_csr(rows[ok], idx[ok], w[ok].astype(np.float64), n)
    # V_qe[p] = mean of V over the k2 nearest of p
    near = nbr[:, :k2]
    out_r, out_c, out_v = [], [], []
    step = max(1, _BLOCK_ELEMS // (k2 * idx.shape[1]))
    for a in range(0, n, step):
        s = near[a : a + step]
        m = ok[s]
        rr = np.broadcast_to(np.arange(a, a + len(s))[:, None, None], m.shape)
        out_r.append(rr[m])
        out_c.append(idx[s][m])
        out_v.append(w[s][m].astype(np.float64) / k2)
    return _to_csr(np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v), n)


def _check(name: str, x: Any, shape: tuple[int, int]) -> np.ndarray:
    arr = to_numpy(x)
    if arr.shape != shape:
        raise ShapeError(f"re_rank: {name} must have shape {shape}, got {arr.shape}")
    if arr.dtype.kind not in "fiu" or not np.isfinite(arr).all():
        raise ShapeError(f"re_rank: {name} must hold finite real distances")
    return arr


def re_rank(
    q_g_dist: Any,
    q_q_dist: Any,
    g_g_dist: Any,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    max_pairs: int = 1 << 23,
) -> np.ndarray:
    """Re-ranked (num_query, num_gallery) distance; inputs are plain (unsquared) distances.

    ``max_pairs`` bounds the sparse-join work per query chunk (memory ~ 24 bytes each).
    """
    qg = to_numpy(q_g_dist)
    if qg.ndim != 2 or 0 in qg.shape:
        raise ShapeError(f"re_rank: q_g_dist must be a non-empty 2-D matrix, got shape {qg.shape}")
    nq, ng = qg.shape
    qg = _check("q_g_dist", qg, (nq, ng))
    qq = _check("q_q_dist", q_q_dist, (nq, nq))
    gg = _check("g_g_dist", g_g_dist, (ng, ng))
    if int(k1) < 1 or int(k2) < 1 or not 0.0 <= float(lambda_value) <= 1.0:
        raise VireidError(f"re_rank: need k1 >= 1, k2 >= 1, 0 <= lambda <= 1; got {k1}, {k2}, {lambda_value}")
    n = nq + ng
    k1, k2 = min(int(k1), n - 1), min(int(k2), n)
    dist = _Dist(qg, qq, gg)
    nbr = _nearest(dist, max(k1 + 1, k2))
    indptr, indices, data = _encode(dist, nbr, k1, k2)

    # inverted index over the gallery rows: for every column, (gallery row, value)
    g_start = indptr[nq]
    g_rows = np.repeat(np.arange(ng), np.diff(indptr[nq:]))
    g_cols, g_vals = indices[g_start:], data[g_start:]
    by_col = np.argsort(g_cols, kind="stable")
    col_ptr = np.concatenate([[0], np.cumsum(np.bincount(g_cols, minlength=n))])
    inv_rows, inv_vals = g_rows[by_col], g_vals[by_col]

    # sum_k min(V_p[k], V_g[k]) for queries p, by a join on k, in chunks of queries
    q_cols, q_vals = indices[:g_start], data[:g_start]
    q_rows = np.repeat(np.arange(nq), np.diff(indptr[: nq + 1]))
    fan = np.diff(col_ptr)[q_cols]  # gallery rows sharing each query entry's column
    per_query = np.bincount(q_rows, weights=fan, minlength=nq)
    overlap = np.zeros((nq, ng), dtype=np.float64)
    a = 0
    while a < nq:
        b = a + 1
        total = per_query[a]
        while b < nq and total + per_query[b] <= max_pairs:
            total += per_query[b]
            b += 1
        e0, e1 = indptr[a], indptr[b]
        f = fan[e0:e1]
        src = np.repeat(np.arange(e0, e1), f)
        pos = np.repeat(col_ptr[q_cols[e0:e1]] - np.cumsum(f) + f, f) + np.arange(int(f.sum()))
        mins = np.minimum(q_vals[src], inv_vals[pos])
        key = (q_rows[src] - a) * ng + inv_rows[pos]
        overlap[a:b] = np.bincount(key, weights=mins, minlength=(b - a) * ng).reshape(b - a, ng)
        a = b
    jaccard = 1.0 - overlap / (2.0 - overlap)
    original = dist.qg2 / dist.col_max[:nq, None]
    final = jaccard * (1.0 - lambda_value) + original * lambda_value
    return final.astype(np.float32)
