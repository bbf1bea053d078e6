"""Exact, vectorised, chunked VI-ReID evaluation (CMC, mAP, mINP).

Reproduces the definitions of the AGW/DEEN evaluation code (``eval_sysu``,
``eval_regdb``, ``eval_llcm`` in ``eval_metrics.py``; Ye et al., "Deep Learning for
Person Re-identification: A Survey and Outlook", TPAMI 2021, eq. for mINP; Zhang &
Wang, "Diverse Embedding Expansion Network and Low-Light Cross-Modality Benchmark",
CVPR 2023) including its quirks:

* ``sysu``: for a query from camera 3, gallery images from camera 2 are discarded.
* ``llcm``: gallery images with the query's pid *and* camid are discarded.
* ``regdb``: nothing is discarded.
* CMC for ``sysu``/``llcm`` is computed on the filtered ranking with repeated
  identities removed (each identity counted at its first occurrence); ``regdb``
  uses the standard CMC.  mAP and mINP always use the filtered ranking without
  de-duplication; mINP of a query = (#positives) / (rank of the hardest positive).
* Queries without any true match in their filtered gallery are skipped (they do
  not count in the averages); if no query is valid a :class:`VireidError` is raised.
* ``cmc`` has ``min(max_rank, num_gallery)`` entries.

Deliberate choices, where the authors' code is ill-defined:

* **Ties.** The authors rank with ``np.argsort`` (introsort, or a SIMD sort on
  AVX-512 machines), which orders equal distances arbitrarily and differently
  across numpy versions and CPUs.  We use a fixed rule: *at equal distance,
  non-matching gallery entries are ranked before true matches* (pessimistic).  The
  result is then independent of gallery order and never flatters a model.  Without
  ties (or with ties only among images of one identity) the numbers equal the
  authors' exactly.
* **Short de-duplicated rankings.** When fewer than ``max_rank`` distinct
  identities remain, the authors' code returns a shorter CMC (or fails on ragged
  lists); we extend the curve with its last value (the fraction of queries
  matched at all), which is what Rank-k means there.
* **Direction.** ``distmat`` is always query x gallery and a *distance* (smaller
  is closer).  The authors pass ``-similarity``; their LLCM VIS->IR script also
  transposes query and gallery (a known issue of their repository).  We never do.

Algorithm (no Python loop over queries, no full sort): for each query the
positives' distances ``t_1 <= ... <= t_m`` are sorted; the number of kept
non-matching entries at distance ``<= t_k`` is counted with one vectorised
comparison per positive over the query's gallery row, which gives every
positive's rank ``r_k = N_k + k - 1``; then ``AP = mean_k k / (r_k + 1)`` and
``INP = m / (r_m + 1)``.  The de-duplicated CMC counts distinct identities among
the entries ranked before the first positive.  Queries are processed in chunks of
rows (memory ``O(chunk x num_gallery)``).  The work is ``O(m x num_gallery)`` per
query with ``m`` positives, which suits re-ID galleries (a few images per identity).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vireid.errors import VireidError
from vireid.evaluation.checks import EvalInputs, check_inputs
from vireid.evaluation.result import EvalResult

_CHUNK_ELEMS = 1 << 18  # default rows per chunk = this / num_gallery (2 MB of float64,
                        # small enough for the repeated passes to stay in cache)


def evaluate(distmat: Any, q_pids: Any, g_pids: Any, q_camids: Any = None,
             g_camids: Any = None, *, protocol: str, max_rank: int = 20,
             chunk_size: int | None = None) -> EvalResult:
    """CMC, mAP and mINP of a query x gallery distance matrix under ``protocol``.

    Args:
        distmat: (num_query, num_gallery) distances, smaller = closer (numpy or torch).
        q_pids, g_pids: integer identities of queries and gallery entries.
        q_camids, g_camids: the datasets' own integer camera numbers (required for
            ``sysu``, where camera 3 queries ignore camera 2, and for ``llcm``).
        protocol: ``"sysu"``, ``"regdb"`` or ``"llcm"``.
        max_rank: length of the CMC curve (capped at the gallery size).
        chunk_size: queries per chunk (default: about 256k distances per chunk).
    """
    inputs = check_inputs(distmat, q_pids, g_pids, q_camids, g_camids,
                          protocol=protocol, max_rank=max_rank)
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
        raise VireidError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return _evaluate(inputs, chunk_size)


def _word_layout(num_g: int) -> tuple[int, int]:
    """(words per segment, padded row width) for :func:`_row_counts`."""
    num_words = -(-num_g // 8)
    num_seg = -(-num_words // 255)
    seg = -(-num_words // num_seg)
    return seg, 8 * seg * num_seg


def _row_counts(mask: np.ndarray, seg: int) -> np.ndarray:
    """Number of True per row of a C-contiguous bool matrix of padded width.

    Eight bools are summed at once as the bytes of a uint64 word; at most 255 words
    are added per segment so that no byte lane overflows.
    """
    words = mask.view(np.uint64).reshape(mask.shape[0], -1, seg)
    lanes = words.sum(axis=2, dtype=np.uint64)
    return lanes.view(np.uint8).reshape(mask.shape[0], -1).sum(axis=1, dtype=np.int64)


class _Gallery:
    """Gallery identities grouped for fast per-query lookups."""

    def __init__(self, x: EvalInputs) -> None:
        self.num = len(x.g_pids)
        uniq, self.pid = np.unique(x.g_pids, return_inverse=True)
        self.pid = self.pid.reshape(-1)
        self.num_pids = len(uniq)
        self.pid_count = np.bincount(self.pid, minlength=self.num_pids)
        self.cols_by_pid = np.argsort(self.pid, kind="stable")
        self.pid_start = np.concatenate([[0], np.cumsum(self.pid_count)[:-1]])
        self.cam = x.g_camids
        pos = np.clip(np.searchsorted(uniq, x.q_pids), 0, self.num_pids - 1)
        self.query_pid = np.where(uniq[pos] == x.q_pids, pos, -1)  # -1: absent

    def num_positives(self, x: EvalInputs) -> np.ndarray:
        """Kept gallery entries with the query's identity, per query."""
        qp = self.query_pid
        present = qp >= 0
        total = np.where(present, self.pid_count[np.maximum(qp, 0)], 0)
        if x.protocol == "sysu":
            cam2 = np.bincount(self.pid[self.cam == 2], minlength=self.num_pids)
            total = total - np.where(present & (x.q_camids == 3), cam2[np.maximum(qp, 0)], 0)
        elif x.protocol == "llcm":
            cams, cam_idx = np.unique(self.cam, return_inverse=True)
            table = np.bincount(self.pid * len(cams) + cam_idx.reshape(-1),
                                minlength=self.num_pids * len(cams)).reshape(-1, len(cams))
            qpos = np.clip(np.searchsorted(cams, x.q_camids), 0, len(cams) - 1)
            same_cam = table[np.maximum(qp, 0), qpos]
            total = total - np.where(present & (cams[qpos] == x.q_camids), same_cam, 0)
        return total


def _evaluate(x: EvalInputs, chunk_size: int | None) -> EvalResult:
    gal = _Gallery(x)
    num_q, num_g = x.distmat.shape
    max_rank = min(x.max_rank, num_g)
    num_pos = gal.num_positives(x)
    is_valid = num_pos > 0
    num_valid = int(is_valid.sum())
    if num_valid == 0:
        raise VireidError(f"no query has a true match in the gallery under protocol "
                          f"{x.protocol!r} ({num_q} queries, {gal.num_pids} gallery "
                          "identities): check that query and gallery ids refer to the same people")
    if x.protocol == "sysu":  # camera-3 queries do not see camera-2 gallery entries
        hide_rows, hide_cols = x.q_camids == 3, gal.cam == 2
    else:
        hide_rows = hide_cols = None

    rows_per_chunk = int(chunk_size) if chunk_size else max(1, _CHUNK_ELEMS // num_g)
    seg, width = _word_layout(num_g)
    buf = np.zeros((min(rows_per_chunk, num_q), width), dtype=bool)
    aps, inps, firsts = [], [], []
    for start in range(0, num_q, rows_per_chunk):
        rows = np.arange(start, min(start + rows_per_chunk, num_q))
        block = x.distmat[start:start + rows_per_chunk]  # a view: no copy for float64
        ok = is_valid[rows]
        if not ok.any():
            continue
        if not ok.all():  # skipped queries are not computed at all
            rows, block = rows[ok], block[ok]
        # float32 input stays float32: the thresholds are its own values, comparisons are exact
        dist = block if block.dtype in (np.float32, np.float64) else block.astype(np.float64)
        keep = None
        if hide_rows is not None and hide_rows[rows].any() and hide_cols.any():
            keep = ~(hide_rows[rows][:, None] & hide_cols[None, :])
        ap, inp, first = _chunk(dist, rows, num_pos[rows], keep, x, gal, buf[:len(rows)], seg,
                                max_rank)
        aps.append(ap)
        inps.append(inp)
        firsts.append(first)

    first = np.minimum(np.concatenate(firsts), max_rank)
    cmc = np.cumsum(np.bincount(first, minlength=max_rank + 1))[:max_rank] / num_valid
    return EvalResult(cmc=cmc, mAP=float(np.concatenate(aps).sum() / num_valid),
                      mINP=float(np.concatenate(inps).sum() / num_valid),
                      num_valid_queries=num_valid)


def _chunk(dist: np.ndarray, rows: np.ndarray, num_pos: np.ndarray, keep: np.ndarray | None,
           x: EvalInputs, gal: _Gallery, buf: np.ndarray, seg: int, max_rank: int):
    """AP, INP and first-hit rank (0-based, CMC definition of the protocol) per row.

    ``num_pos`` is the number of positives of each row (>= 1); ``keep`` (rows x
    gallery, or None for all) marks the gallery entries each row may see before
    same-identity filtering (the sysu camera rule).
    """
    num_rows, num_g = dist.shape
    qp = gal.query_pid[rows]
    # same-identity gallery entries of each query ("specials"), padded to S columns
    count = gal.pid_count[qp]
    j = np.arange(count.max())
    is_special = j < count[:, None]
    cols = gal.cols_by_pid[np.minimum(gal.pid_start[qp][:, None] + j, num_g - 1)]
    d_special = np.where(is_special, np.take_along_axis(dist, cols, axis=1), np.inf)
    if x.protocol == "sysu":
        kept = is_special if keep is None else is_special & np.take_along_axis(keep, cols, axis=1)
        counted = kept  # hidden camera-2 entries are removed from the counts by ``keep``
    elif x.protocol == "llcm":
        kept = is_special & (gal.cam[cols] != x.q_camids[rows][:, None])
        counted = is_special  # discarded same-camera entries are still counted below
    else:
        kept = counted = is_special
    m = num_pos
    num_k = int(m.max())
    thr = np.sort(np.where(kept, d_special, np.inf), axis=1)[:, :num_k]  # t_1 <= ... <= t_m
    # same-identity entries of the row at distance <= t_k (positives included)
    counted_d = np.where(counted, d_special, np.inf)
    special_le = np.count_nonzero(counted_d[:, None, :] <= thr[:, :, None], axis=2)

    view = buf[:, :num_g]
    before = np.empty((num_rows, num_k), dtype=np.int64)
    first = None
    for k in range(num_k):  # one pass per positive: entries at distance <= t_k
        np.less_equal(dist, thr[:, k:k + 1], out=view)
        if keep is not None:
            np.logical_and(view, keep, out=view)
        before[:, k] = _row_counts(buf, seg) - special_le[:, k]
        if k == 0:
            if x.protocol == "regdb":
                first = before[:, 0].copy()
            else:
                first = _dedup_first_rank(buf, before[:, 0], qp, gal, max_rank)
    ks = np.arange(num_k)
    rank = before + ks  # 0-based rank of the k-th positive in the filtered ranking
    use = ks < m[:, None]  # columns k >= m of shorter rows are padding (garbage counts)
    precision = np.divide(ks + 1.0, rank + 1.0, out=np.zeros(rank.shape), where=use)
    ap = precision.sum(axis=1) / m
    inp = m / (rank[np.arange(num_rows), m - 1] + 1.0)
    return ap, inp, first


def _dedup_first_rank(mask: np.ndarray, num_before: np.ndarray, qp: np.ndarray,
                      gal: _Gallery, max_rank: int) -> np.ndarray:
    """Rank of the first positive after removing repeated identities.

    = number of distinct other identities among the entries at distance <= t_1
    (``mask``).  Rows whose count is provably >= ``max_rank`` (each identity has at
    most ``max(pid_count)`` entries) are not counted exactly.
    """
    first = num_before.copy()  # exact when fewer than two entries precede
    cap = int(gal.pid_count.max())
    many = num_before >= 2
    hopeless = many & (-(-num_before // cap) >= max_rank)
    first[hopeless] = max_rank
    need = np.flatnonzero(many & ~hopeless)
    step = max(1, _CHUNK_ELEMS // gal.num_pids)  # bounds the (rows x identities) table
    for a in range(0, len(need), step):
        rows = need[a:a + step]
        sub = mask if len(rows) == len(mask) else mask[rows]
        r, c = np.divmod(np.flatnonzero(sub), mask.shape[1])  # 2-D nonzero is much slower
        seen = np.zeros((len(rows), gal.num_pids), dtype=bool)
        seen[r, gal.pid[c]] = True
        seen[np.arange(len(rows)), qp[rows]] = False  # the query's own identity
        first[rows] = np.count_nonzero(seen, axis=1)
    return first
