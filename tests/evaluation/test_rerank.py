"""k-reciprocal re-ranking against a straightforward loop implementation."""

from __future__ import annotations

import numpy as np
import pytest

from tests.evaluation.rerank_reference import re_rank_reference
from vireid.errors import ShapeError, VireidError
from vireid.evaluation import evaluate, pairwise_distance, re_rank


def _case(seed, nq, ng, dim=8, ids=6):
    rng = np.random.default_rng(seed)
    pids = rng.integers(0, ids, nq + ng)
    protos = rng.standard_normal((ids, dim))
    f = protos[pids] + 0.8 * rng.standard_normal((nq + ng, dim))
    q, g = f[:nq], f[nq:]
    return (pairwise_distance(q, g), pairwise_distance(q, q), pairwise_distance(g, g)), pids[:nq], pids[nq:]


@pytest.mark.parametrize(
    "seed, nq, ng, k1, k2, lam",
    [
        (0, 12, 30, 20, 6, 0.3),  # the paper's setting
        (1, 7, 25, 5, 3, 0.5),
        (2, 20, 15, 8, 1, 0.0),  # no query expansion, Jaccard only
        (3, 4, 9, 30, 2, 1.0),  # k1 larger than the set, original distance only
    ],
)
def test_matches_reference(seed, nq, ng, k1, k2, lam):
    dists, _, _ = _case(seed, nq, ng)
    ref = re_rank_reference(*dists, k1=k1, k2=k2, lambda_value=lam)
    got = re_rank(*dists, k1=k1, k2=k2, lambda_value=lam)
    assert got.shape == (nq, ng) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


def test_chunked_join_is_invariant():
    dists, _, _ = _case(4, 15, 40)
    whole = re_rank(*dists)
    tiny = re_rank(*dists, max_pairs=1)  # one query per chunk
    np.testing.assert_allclose(tiny, whole, atol=1e-12, rtol=0)


def test_improves_retrieval_on_clustered_features():
    dists, qp, gp = _case(5, 40, 120, ids=8)
    before = evaluate(dists[0], qp, gp, protocol="regdb").mAP
    after = evaluate(re_rank(*dists), qp, gp, protocol="regdb").mAP
    assert after > before


def test_bad_input():
    dists, _, _ = _case(6, 5, 7)
    with pytest.raises(ShapeError, match="q_q_dist must have shape"):
        re_rank(dists[0], dists[2], dists[2])
    bad = dists[2].copy()
    bad[0, 1] = np.nan
    with pytest.raises(ShapeError, match="finite"):
        re_rank(dists[0], dists[1], bad)
    with pytest.raises(VireidError, match="k1"):
        re_rank(*dists, k1=0)
