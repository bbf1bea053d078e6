"""Exact, vectorised, chunked VI-ReID evaluation (CMC, mAP, mINP).

Reproduces the definitions of the AGW/DEEN evaluation code (``eval_sysu``,
``eval_regdb``, ``eval_llcm`` in ``eval_metrics.py``; Ye et al., "Deep Learning for
Person Re-identification: A Survey and Outlook", TPAMI 2021, eq. for mINP; Zhang &
Wang, "Diverse Embedding Expansion Network and Low-Light Cross-Modality Benchmark",
CVPR 2023) including its quirks.  Which gallery entries a query is ranked against and
whether the CMC removes repeated identities are the protocol's rules
(:mod:`vireid.evaluation.protocols`):

* ``sysu``: for a query from camera 3, gallery images from camera 2 are discarded.
* ``llcm``: gallery images with the query's pid *and* camid are discarded.
* ``regdb``, ``plain``: nothing is discarded.
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
  transposes query and gallery (a known bug of their test script).  We never do.

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
from vireid.evaluation.protocols import EvalProtocol
from vireid.evaluation.result import EvalResult

_PASS_ELEMS = 1 << 18  # rows per pass = this / num_gallery (2 MB of float64, in L2/L3 cache
# across the repeated passes over the same rows)
_PASSES_PER_BLOCK = 16  # per-row statistics are computed for this many pass slices at once
_TABLE_ELEMS = 1 << 18  # bound of the (rows x identities) table of the de-duplicated CMC


def evaluate(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any = None,
    g_camids: Any = None,
    *,
    protocol: str | EvalProtocol,
    max_rank: int = 20,
    chunk_size: int | None = None,
) -> EvalResult:
    """CMC, mAP and mINP of a query x gallery distance matrix under ``protocol``.

    Args:
        distmat: (num_query, num_gallery) distances, smaller = closer (numpy or torch).
        q_pids, g_pids: integer identities of queries and gallery entries.
        q_camids, g_camids: the datasets' own integer camera numbers (required for
            ``sysu``, where camera 3 queries ignore camera 2, and for ``llcm``).
        protocol: ``"sysu"``, ``"regdb"``, ``"llcm"``, ``"plain"`` or an :class:`EvalProtocol`.
        max_rank: length of the CMC curve (capped at the gallery size).
        chunk_size: queries per pass (default: about 256k distances per pass; memory
            stays ``O(16 x chunk_size x num_gallery)`` bits plus per-query statistics).
    """
    inputs = check_inputs(distmat, q_pids, g_pids, q_camids, g_camids, protocol=protocol, max_rank=max_rank)
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
        raise VireidError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return _evaluate(inputs, chunk_size)


def _word_segments(width: int) -> int:
    """Words per segment for summing a row of ``width`` bools as uint64 words, or 0.

    Needs ``width % 8 == 0`` and equal segments of 8 to 255 words (so that no byte lane
    overflows and a segment is long enough to pay off); 0 when there is no such split.
    """
    if width % 8:
        return 0
    words = width // 8
    for seg in range(min(words, 255), 7, -1):
        if words % seg == 0:
            return seg
    return 0


def _row_counts(mask: np.ndarray) -> np.ndarray:
    """Number of True per row of a C-contiguous bool matrix.

    Eight bools are summed at once as the bytes of a uint64 word where the width allows
    (:func:`_word_segments`); otherwise the bytes are summed into uint16 (uint32 for rows
    of 65536 entries or more), still far cheaper than ``count_nonzero(axis=1)``.
    """
    rows, width = mask.shape
    seg = _word_segments(width)
    if not seg:
        return mask.view(np.uint8).sum(axis=1, dtype=np.uint16 if width < 65536 else np.uint32)
    lanes = mask.view(np.uint64).reshape(rows, -1, seg).sum(axis=2, dtype=np.uint64)
    return lanes.view(np.uint8).reshape(rows, -1).sum(axis=1, dtype=np.int64)


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
        if x.rules.needs_camids:  # subtract the discarded same-identity entries, camera by camera
            cams, cam_idx = np.unique(self.cam, return_inverse=True)
            table = np.bincount(
                self.pid * len(cams) + cam_idx.reshape(-1), minlength=self.num_pids * len(cams)
            ).reshape(-1, len(cams))
            gone = x.rules.discarded(True, x.q_camids[:, None], cams[None, :])  # (queries, cameras)
            lost = (table[np.maximum(qp, 0)] * gone).sum(axis=1)
            total = total - np.where(present, lost, 0)
        return total


class _CameraFilter:
    """Gallery entries a query ignores whatever their identity (the protocol's hidden cameras),
    tabulated once per distinct query camera."""

    def __init__(self, x: EvalInputs) -> None:
        cams, self.q_idx = np.unique(x.q_camids, return_inverse=True)
        self.q_idx = self.q_idx.reshape(-1)
        self.by_cam = x.rules.hidden(cams[:, None], x.g_camids[None, :])  # (query cameras, gallery)
        self.any = self.by_cam.any(axis=1)[self.q_idx]  # per query: does it hide anything?

    @staticmethod
    def build(x: EvalInputs) -> "_CameraFilter | None":
        if not x.rules.hidden_cameras:
            return None
        f = _CameraFilter(x)
        return f if f.any.any() else None

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), num_gallery) hidden entries of queries ``rows``."""
        return self.by_cam[self.q_idx[rows]]

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Hidden flags of the (rows[i], cols[i, j]) pairs."""
        return self.by_cam[self.q_idx[rows][:, None], cols]


def _evaluate(x: EvalInputs, chunk_size: int | None) -> EvalResult:
    gal = _Gallery(x)
    num_q, num_g = x.distmat.shape
    max_rank = min(x.max_rank, num_g)
    num_pos = gal.num_positives(x)
    valid = np.flatnonzero(num_pos > 0)  # queries without a match are skipped
    if len(valid) == 0:
        raise VireidError(
            f"no query has a true match in the gallery under protocol "
            f"{x.protocol!r} ({num_q} queries, {gal.num_pids} gallery "
            "identities): check that query and gallery ids refer to the same people"
        )
    hide = _CameraFilter.build(x)  # e.g. sysu: camera-3 queries do not see camera-2 entries

    inner = int(chunk_size) if chunk_size else max(1, _PASS_ELEMS // num_g)
    outer = inner * _PASSES_PER_BLOCK
    mask_buf = np.empty((min(inner, len(valid)), num_g), dtype=bool)
    aps, inps, firsts = [], [], []
    for start in range(0, len(valid), outer):
        rows = valid[start : start + outer]
        ap, inp, first = _block(x, gal, rows, num_pos[rows], hide, inner, mask_buf, max_rank)
        aps.append(ap)
        inps.append(inp)
        firsts.append(first)
    first = np.minimum(np.concatenate(firsts), max_rank)
    cmc = np.cumsum(np.bincount(first, minlength=max_rank + 1))[:max_rank] / len(valid)
    return EvalResult(
        cmc=cmc,
        mAP=float(np.concatenate(aps).sum() / len(valid)),
        mINP=float(np.concatenate(inps).sum() / len(valid)),
        num_valid_queries=len(valid),
    )


def _thresholds(
    x: EvalInputs, gal: _Gallery, rows: np.ndarray, num_pos: np.ndarray, hide: _CameraFilter | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the positives' sorted distances ``t_1 <= ... <= t_m`` as ``(num_k, rows)``
    (+inf past a row's ``m``), and how many same-identity gallery entries that the
    counts include lie at distance <= t_k (also ``(num_k, rows)``)."""
    num_g = x.distmat.shape[1]
    qp = gal.query_pid[rows]
    # same-identity gallery entries of each query ("specials"), padded to S columns
    count = gal.pid_count[qp]
    j = np.arange(count.max())
    is_special = j < count[:, None]
    cols = gal.cols_by_pid[np.minimum(gal.pid_start[qp][:, None] + j, num_g - 1)]
    d_special = np.where(is_special, x.distmat[rows[:, None], cols], np.inf)
    kept = counted = is_special
    if hide is not None:
        counted = kept = is_special & ~hide.at(rows, cols)  # hidden entries: cleared from the passes too
    if x.rules.same_camera_same_identity:  # still counted by the passes, subtracted here
        kept = kept & (gal.cam[cols] != x.q_camids[rows][:, None])
    num_k = int(num_pos.max())
    thr = np.ascontiguousarray(np.sort(np.where(kept, d_special, np.inf), axis=1)[:, :num_k].T)
    counted_d = np.where(counted, d_special, np.inf)
    special_le = np.zeros(thr.shape, dtype=np.int64)
    for s in range(counted_d.shape[1]):  # S is small (a few images per identity)
        special_le += counted_d[:, s] <= thr
    return thr, special_le


def _block(
    x: EvalInputs,
    gal: _Gallery,
    rows: np.ndarray,
    num_pos: np.ndarray,
    hide: _CameraFilter | None,
    inner: int,
    mask_buf: np.ndarray,
    max_rank: int,
):
    """AP, INP and first-hit rank (0-based, CMC definition of the protocol) of query ``rows``.

    ``num_pos`` is the number of positives of each row (>= 1); the entries ``hide`` hides
    are discarded (the protocol's hidden cameras, e.g. sysu's camera 3 -> camera 2 rule).
    The per-row thresholds are computed once for the block; the passes over the distances
    then go ``inner`` rows at a time, a slice small enough to stay in cache across passes.
    """
    num_g = x.distmat.shape[1]
    thr, special_le = _thresholds(x, gal, rows, num_pos, hide)
    num_k, n = thr.shape
    before = np.zeros((num_k, n), dtype=np.int64)
    consecutive = rows[-1] - rows[0] == n - 1
    dedup = x.rules.dedup_cmc
    cap = int(gal.pid_count.max())
    found_r, found_c = [], []
    for a in range(0, n, inner):
        b = min(a + inner, n)
        dist = x.distmat[rows[a] : rows[a] + b - a] if consecutive else x.distmat[rows[a:b]]
        if dist.dtype not in (np.float32, np.float64):  # float32 stays float32: comparisons are exact
            dist = dist.astype(np.float64)
        mask = mask_buf[: b - a]
        keep = None
        if hide is not None and hide.any[rows[a:b]].any():
            keep = ~hide.rows(rows[a:b])
        for k in range(int(num_pos[a:b].max())):  # one pass per positive: entries <= t_k
            np.less_equal(dist, thr[k, a:b, None], out=mask)
            if keep is not None:
                np.logical_and(mask, keep, out=mask)
            before[k, a:b] = _row_counts(mask) - special_le[k, a:b]
            if k == 0 and dedup:  # the entries before the first positive, where needed
                nb = before[0, a:b]
                need = np.flatnonzero((nb >= 2) & (-(-nb // cap) < max_rank))
                if len(need) == b - a:
                    r, c = np.divmod(np.flatnonzero(mask), num_g)  # 2-D nonzero is much slower
                else:
                    r, c = np.divmod(np.flatnonzero(mask[need]), num_g)
                    r = need[r]
                found_r.append(r + a)
                found_c.append(c)
    if dedup:
        first = _dedup_first_rank(
            np.concatenate(found_r), np.concatenate(found_c), before[0], gal.query_pid[rows], gal, max_rank
        )
    else:
        first = before[0].copy()
    ks = np.arange(num_k)
    rank = before.T + ks  # 0-based rank of the k-th positive in the filtered ranking
    use = ks < num_pos[:, None]  # columns k >= m of shorter rows are padding
    precision = np.divide(ks + 1.0, rank + 1.0, out=np.zeros(rank.shape), where=use)
    ap = precision.sum(axis=1) / num_pos
    inp = num_pos / (rank[np.arange(n), num_pos - 1] + 1.0)
    return ap, inp, first


def _dedup_first_rank(
    r: np.ndarray, c: np.ndarray, num_before: np.ndarray, qp: np.ndarray, gal: _Gallery, max_rank: int
) -> np.ndarray:
    """Rank of the first positive after removing repeated identities.

    = number of distinct other identities among the entries at distance <= t_1, given
    as (row, column) pairs ``r``, ``c`` sorted by row.  Rows whose count is provably
    >= ``max_rank`` (each identity has at most ``max(pid_count)`` entries) are not
    counted exactly.
    """
    first = num_before.copy()  # exact when fewer than two entries precede
    cap = int(gal.pid_count.max())
    many = num_before >= 2
    hopeless = many & (-(-num_before // cap) >= max_rank)
    first[hopeless] = max_rank
    need = np.flatnonzero(many & ~hopeless)
    step = max(1, _TABLE_ELEMS // gal.num_pids)
    for a in range(0, len(need), step):
        rows = need[a : a + step]
        slot = np.full(len(num_before), -1)
        slot[rows] = np.arange(len(rows))
        lo, hi = np.searchsorted(r, [rows[0], rows[-1] + 1])
        pos, cols = slot[r[lo:hi]], c[lo:hi]
        sel = pos >= 0
        seen = np.zeros((len(rows), gal.num_pids), dtype=bool)
        seen[pos[sel], gal.pid[cols[sel]]] = True
        seen[np.arange(len(rows)), qp[rows]] = False  # the query's own identity
        first[rows] = np.count_nonzero(seen, axis=1)
    return first
