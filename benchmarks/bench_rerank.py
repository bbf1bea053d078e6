"""k-reciprocal re-ranking time (:func:`vireid.evaluation.re_rank`, k1=20, k2=6, lambda=0.3).

Identity-clustered synthetic features (64-d), Euclidean distances; the time covers the
re-ranking only (the three input distance matrices are computed before).  mAP before
and after (regdb protocol, i.e. no filtering) shows that it does what it should.
"""

from __future__ import annotations

import numpy as np

from benchmarks._common import cli, median_time
from vireid.evaluation import evaluate, pairwise_distance, re_rank


def _case(num_query: int, num_gallery: int, ids: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    protos = rng.standard_normal((ids, 64))
    qp, gp = rng.integers(0, ids, num_query), rng.integers(0, ids, num_gallery)
    q = protos[qp] + 1.2 * rng.standard_normal((num_query, 64))
    g = protos[gp] + 1.2 * rng.standard_normal((num_gallery, 64))
    dists = [pairwise_distance(a, b) for a, b in ((q, g), (q, q), (g, g))]
    return dists, qp, gp


def run(quick: bool = False) -> list[dict]:
    sizes = [(300, 600, 60), (1000, 2000, 200)] if quick else [(500, 1000, 100), (2000, 4000, 400)]
    rows = []
    for nq, ng, ids in sizes:
        dists, qp, gp = _case(nq, ng, ids)
        seconds = median_time(lambda dists=dists: re_rank(*dists), repeats=2 if quick else 3)
        before = evaluate(dists[0], qp, gp, protocol="regdb").mAP
        after = evaluate(re_rank(*dists), qp, gp, protocol="regdb").mAP
        rows.append(
            {
                "name": f"re_rank {nq}x{ng} ({ids} ids)",
                "value": seconds,
                "unit": "s",
                "note": f"mAP {before:.3f} -> {after:.3f}",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli("bench_rerank", "k-reciprocal re-ranking", run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
