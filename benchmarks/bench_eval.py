"""Evaluation speed: vectorised :func:`vireid.evaluation.evaluate` vs the per-query loop.

Target: at least 30x faster than a straightforward per-query loop of the
same protocol (:func:`tests.evaluation.reference.evaluate_reference`), with identical
results, on

* a SYSU-sized case: 3803 infrared queries x 301 visible gallery images (96 identities,
  one image per identity and visible camera, single-shot), protocol ``sysu``;
* a large case: 8000 queries x 10000 gallery images (1000 identities, cameras 1-9),
  protocol ``llcm``.  The loop is timed on the first queries only and scaled linearly
  (it costs the same per query); both implementations are checked on that subset.

Distances are Euclidean distances between synthetic identity-clustered features
(Rank-1 around 50%, like a mid-level model), so rankings look like real ones.  The SYSU-sized
case is run on float32 distances, what both vireid's and the authors' pipelines produce
(float32 features), and on float64.  The two implementations are timed alternately (median
of repeats after a warm-up).
"""

from __future__ import annotations

import numpy as np
from tests.evaluation.reference import evaluate_reference

from benchmarks._common import cli, interleaved_times
from vireid.evaluation import evaluate

TARGET = 30.0


def _features(
    pids: np.ndarray, protos: np.ndarray, noise: float, shift: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    return protos[pids] + shift + noise * rng.standard_normal((len(pids), protos.shape[1]))


def _distances(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    d = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * q @ g.T
    return np.sqrt(np.maximum(d, 0.0))


def sysu_case(seed: int = 0, num_query: int = 3803, num_gallery: int = 301):
    """SYSU-MM01-like (all-search, single-shot) identities, cameras and distances."""
    rng = np.random.default_rng(seed)
    ids, dim = 96, 64
    pairs = np.array([(p, c) for p in range(ids) for c in (1, 2, 4, 5)])
    first = np.arange(0, len(pairs), 4) + rng.integers(0, 4, ids)  # every id at least once
    rest = rng.choice(np.setdiff1d(np.arange(len(pairs)), first), num_gallery - ids, replace=False)
    g_pids, g_cams = pairs[np.sort(np.concatenate([first, rest]))].T
    q_pids, q_cams = rng.integers(0, ids, num_query), rng.choice([3, 6], num_query)
    protos = rng.standard_normal((ids, dim))
    q = _features(q_pids, protos, 1.4, rng.standard_normal(dim) * 0.5, rng)
    g = _features(g_pids, protos, 1.4, rng.standard_normal(dim) * 0.5, rng)
    return _distances(q, g), q_pids, g_pids, q_cams, g_cams


def large_case(seed: int = 0, num_query: int = 8000, num_gallery: int = 10000, ids: int = 1000):
    """Large LLCM-like case: ``ids`` identities, cameras 1-9 on both sides."""
    rng = np.random.default_rng(seed)
    dim = 64
    g_pids = rng.permutation(np.arange(num_gallery) % ids)
    g_cams = rng.integers(1, 10, num_gallery)
    q_pids, q_cams = rng.integers(0, ids, num_query), rng.integers(1, 10, num_query)
    protos = rng.standard_normal((ids, dim))
    q = _features(q_pids, protos, 1.2, 0.0, rng)
    g = _features(g_pids, protos, 1.2, 0.0, rng)
    return _distances(q, g), q_pids, g_pids, q_cams, g_cams


def _same(a, b) -> float:
    """Largest difference between two EvalResults (asserted below 1e-9)."""
    assert len(a.cmc) == len(b.cmc) and a.num_valid_queries == b.num_valid_queries
    diff = max(float(np.abs(a.cmc - b.cmc).max()), abs(a.mAP - b.mAP), abs(a.mINP - b.mINP))
    assert diff < 1e-9, f"vectorised and loop results differ by {diff}"
    return diff


def _compare(label: str, case, protocol: str, loop_queries: int, repeats: int) -> list[dict]:
    dist, qp, gp, qc, gc = case
    n = min(loop_queries, len(dist))
    sub = (dist[:n], qp[:n], gp, qc[:n], gc)
    vec = evaluate(dist, qp, gp, qc, gc, protocol=protocol)
    diff = _same(evaluate(*sub, protocol=protocol), evaluate_reference(*sub, protocol=protocol))
    times = interleaved_times(
        {
            "vec": lambda: evaluate(dist, qp, gp, qc, gc, protocol=protocol),
            "loop": lambda: evaluate_reference(*sub, protocol=protocol),
        },
        repeats=repeats,
    )
    loop_full = times["loop"] * len(dist) / n
    speedup = loop_full / times["vec"]
    scaled = "" if n == len(dist) else f" (timed on {n} queries, scaled x{len(dist) / n:.1f})"
    shape = f"{len(dist)}x{dist.shape[1]} {protocol}"
    return [
        {
            "name": f"{label} {shape}: vectorised",
            "value": times["vec"] * 1e3,
            "unit": "ms",
            "note": f"rank1 {vec.rank(1):.3f}, mAP {vec.mAP:.3f}, mINP {vec.mINP:.3f}",
        },
        {
            "name": f"{label} {shape}: per-query loop",
            "value": loop_full * 1e3,
            "unit": "ms",
            "note": "evaluate_reference" + scaled,
        },
        {
            "name": f"{label} {shape}: speedup",
            "value": speedup,
            "unit": "x",
            "note": f"target >= {TARGET:g}x: {'met' if speedup >= TARGET else 'NOT met'}; "
            f"max |diff| {diff:.1e} on {n} queries",
        },
    ]


def _as(case, dtype):
    return (case[0].astype(dtype),) + tuple(case[1:])


def run(quick: bool = False) -> list[dict]:
    sysu = sysu_case()
    rows = _compare("SYSU-sized float32", _as(sysu, np.float32), "sysu", loop_queries=3803, repeats=3 if quick else 15)
    rows += _compare("SYSU-sized float64", sysu, "sysu", loop_queries=3803, repeats=3 if quick else 15)
    num_query = 2000 if quick else 8000
    rows += _compare(
        "large", large_case(num_query=num_query), "llcm", loop_queries=100 if quick else 400, repeats=3 if quick else 5
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli("bench_eval", "Evaluation: vectorised vs per-query loop", run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
