"""Per-query loop reference of the VI-ReID evaluation protocols.

Written plainly, one query at a time, for readability: it is the specification
that :func:`vireid.evaluation.evaluate` (vectorised, chunked) is tested against,
and the baseline of ``benchmarks/bench_eval.py``.  It follows the definitions of
the AGW/DEEN ``eval_metrics.py`` (Ye et al., TPAMI 2021; Zhang & Wang, CVPR 2023):

* ``sysu``  -- a query from camera 3 ignores gallery images of camera 2; CMC is
  computed on the ranking with repeated identities removed (each identity at its
  first occurrence); AP and INP on the filtered ranking without de-duplication.
* ``llcm``  -- gallery images with the query's pid *and* camid are ignored;
  de-duplicated CMC as for ``sysu``.
* ``regdb`` -- no filtering, standard CMC.

Ties: among gallery entries at exactly the same distance, non-matches are
ranked before true matches (the pessimistic rule of
:mod:`vireid.evaluation.metrics`, which explains the choice).  Inputs are *not*
validated here.
"""

from __future__ import annotations

import numpy as np

from vireid.errors import VireidError
from vireid.evaluation.result import EvalResult


def _kept_gallery(protocol: str, q_pid, q_cam, g_pids: np.ndarray, g_cams: np.ndarray | None) -> np.ndarray:
    """Boolean mask of the gallery entries a query is ranked against."""
    if protocol == "sysu":
        if q_cam == 3:
            return g_cams != 2
        return np.ones(len(g_pids), dtype=bool)
    if protocol == "llcm":
        return ~((g_pids == q_pid) & (g_cams == q_cam))
    return np.ones(len(g_pids), dtype=bool)  # regdb


def evaluate_reference(
    distmat, q_pids, g_pids, q_camids=None, g_camids=None, *, protocol: str, max_rank: int = 20
) -> EvalResult:
    """Loop over queries; same contract and result as :func:`vireid.evaluation.evaluate`."""
    distmat = np.asarray(distmat, dtype=np.float64)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    dedup = protocol in ("sysu", "llcm")

    cmc_sum = np.zeros(max_rank)
    aps, inps = [], []
    for i in range(num_q):
        q_pid = q_pids[i]
        q_cam = None if q_camids is None else q_camids[i]
        kept = _kept_gallery(protocol, q_pid, q_cam, g_pids, None if g_camids is None else np.asarray(g_camids))
        dist, pids = distmat[i][kept], g_pids[kept]
        # sort by distance; at equal distance non-matches (False) come first
        order = np.lexsort((pids == q_pid, dist))
        ranked_pids = pids[order]
        is_match = ranked_pids == q_pid
        if not is_match.any():
            continue  # identity absent from this query's gallery: skipped

        # positions (0-based) of every true match in the filtered ranking
        hits = np.flatnonzero(is_match)
        num_hits = len(hits)
        precision_at_hits = np.arange(1, num_hits + 1) / (hits + 1.0)
        aps.append(precision_at_hits.mean())
        inps.append(num_hits / (hits[-1] + 1.0))  # mINP: hardest positive

        if dedup:
            # keep each identity at its first occurrence, in rank order
            _, first_pos = np.unique(ranked_pids, return_index=True)
            unique_ranked = ranked_pids[np.sort(first_pos)]
            first_hit = int(np.flatnonzero(unique_ranked == q_pid)[0])
        else:
            first_hit = int(hits[0])
        cmc = np.zeros(max_rank)
        cmc[first_hit:] = 1.0  # empty when the first hit is beyond max_rank
        cmc_sum += cmc

    num_valid = len(aps)
    if num_valid == 0:
        raise VireidError("no query has a match in the gallery")
    return EvalResult(
        cmc=cmc_sum / num_valid, mAP=float(np.mean(aps)), mINP=float(np.mean(inps)), num_valid_queries=num_valid
    )
