"""vireid.evaluation.evaluate: hand-made rankings, loop agreement, chunking, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.evaluation.reference import evaluate_reference
from vireid.errors import ShapeError, VireidError
from vireid.evaluation import evaluate


def _close(result, cmc, mAP, mINP, valid):
    np.testing.assert_allclose(result.cmc, cmc, atol=1e-12)
    assert result.mAP == pytest.approx(mAP, abs=1e-12)
    assert result.mINP == pytest.approx(mINP, abs=1e-12)
    assert result.num_valid_queries == valid


# --- hand-made rankings ---------------------------------------------------------------


def test_regdb_standard_cmc_ap_inp_and_absent_query():
    g_pids = [1, 2, 1, 3, 2]
    dist = [
        [0.5, 0.1, 0.9, 0.3, 0.2],  # pid 1: matches at ranks 4 and 5
        [0.4, 0.3, 0.2, 0.1, 0.5],  # pid 3: match at rank 1
        [0.1, 0.2, 0.3, 0.4, 0.5],
    ]  # pid 9: not in the gallery -> skipped
    r = evaluate(dist, [1, 3, 9], g_pids, protocol="regdb")
    # AP(q0) = (1/4 + 2/5) / 2, INP(q0) = 2/5
    _close(r, [0.5, 0.5, 0.5, 1, 1], (0.325 + 1) / 2, (0.4 + 1) / 2, 2)
    assert len(r.cmc) == 5  # max_rank capped at the gallery size


def test_sysu_camera_filter_dedup_cmc_and_filtered_out_query():
    g_pids, g_cams = [1, 1, 2, 2, 3], [2, 1, 4, 5, 2]
    d0 = [0.1, 0.5, 0.2, 0.3, 0.05]
    d2 = [0.9, 0.8, 0.1, 0.2, 0.95]
    dist = [d0, d0, d2, d0]
    q_pids, q_cams = [1, 1, 1, 3], [3, 6, 6, 3]
    r = evaluate(dist, q_pids, g_pids, q_cams, g_cams, protocol="sysu")
    # q0 (cam 3): cam-2 entries gone -> ranking p2 p2 p1: AP = INP = 1/3; dedup p2 p1 -> rank 2
    # q1 (cam 6): p3 p1 p2 p2 p1: AP = (1/2 + 2/5)/2, INP = 2/5; dedup p3 p1 -> rank 2
    # q2 (cam 6): p2 p2 p1 p1 p3: AP = (1/3 + 2/4)/2, INP = 1/2; dedup p2 p1 -> rank 2 (not 3)
    # q3 (cam 3, pid 3): its only match is in camera 2 -> no match -> skipped
    _close(r, [0, 1, 1, 1, 1], (1 / 3 + 0.45 + 5 / 12) / 3, (1 / 3 + 0.4 + 0.5) / 3, 3)
    # the de-duplicated ranking of q0 has 2 identities: the curve is extended, length 5
    q0 = evaluate([d0], [1], g_pids, [3], g_cams, protocol="sysu")
    np.testing.assert_allclose(q0.cmc, [0, 1, 1, 1, 1])
    # without de-duplication (regdb rule) q2 is first matched at rank 3
    np.testing.assert_allclose(evaluate([d2], [1], g_pids, protocol="regdb").cmc, [0, 0, 1, 1, 1])


def test_llcm_same_pid_same_camera_removed():
    g_pids, g_cams = [1, 1, 2, 1], [4, 5, 4, 4]
    dist = [[0.1, 0.3, 0.2, 0.05]] * 3
    q_pids, q_cams = [1, 1, 2], [4, 7, 4]
    r = evaluate(dist, q_pids, g_pids, q_cams, g_cams, protocol="llcm")
    # q0: p1/cam4 entries removed -> p2 p1: AP = INP = 1/2, dedup rank 2
    # q1: nothing removed -> p1 p1 p2 p1: AP = (1 + 1 + 3/4)/3, INP = 3/4, rank 1
    # q2: pid 2's only entry is in camera 4 -> removed -> skipped
    _close(r, [0.5, 1, 1, 1], (0.5 + 11 / 12) / 2, (0.5 + 0.75) / 2, 2)


def test_ties_rank_non_matches_first_independent_of_gallery_order():
    a = evaluate([[0.5, 0.5]], [1], [1, 2], protocol="regdb")
    b = evaluate([[0.5, 0.5]], [1], [2, 1], protocol="regdb")
    for r in (a, b):
        _close(r, [0, 1], 0.5, 0.5, 1)
    # a tie among images of the query's own identity changes nothing
    _close(evaluate([[0.3, 0.3, 0.5]], [1], [1, 1, 2], protocol="regdb"), [1, 1, 1], 1.0, 1.0, 1)


def test_as_dict_and_saturated_ranks():
    r = evaluate([[0.1, 0.2, 0.3]], [2], [1, 2, 3], protocol="regdb")
    d = r.as_dict()
    assert d == pytest.approx({"rank1": 0.0, "rank5": 1.0, "rank10": 1.0, "rank20": 1.0, "mAP": 0.5, "mINP": 0.5})
    assert evaluate(np.random.rand(3, 30), [1, 2, 3], np.arange(30) % 5, protocol="regdb", max_rank=7).cmc.shape == (7,)


# --- agreement with the per-query loop on random cases ---------------------------------


def _random_case(rng, ties: bool):
    q, g, p = int(rng.integers(1, 25)), int(rng.integers(1, 40)), int(rng.integers(1, 10))
    dist = rng.integers(0, 4, (q, g)).astype(float) if ties else rng.random((q, g))
    return (dist, rng.integers(0, p + 2, q), rng.integers(0, p, g), rng.integers(1, 7, q), rng.integers(1, 7, g))


@pytest.mark.parametrize("protocol", ["sysu", "regdb", "llcm"])
def test_vectorised_matches_loop_on_random_cases(protocol):
    rng = np.random.default_rng({"sysu": 0, "regdb": 1, "llcm": 2}[protocol])
    compared = 0
    for trial in range(80):
        case = _random_case(rng, ties=trial % 2 == 0)
        max_rank = int(rng.integers(1, 25))
        try:
            ref = evaluate_reference(*case, protocol=protocol, max_rank=max_rank)
        except VireidError:
            with pytest.raises(VireidError, match="no query has a true match"):
                evaluate(*case, protocol=protocol, max_rank=max_rank)
            continue
        for chunk in (None, 1, 7):
            got = evaluate(*case, protocol=protocol, max_rank=max_rank, chunk_size=chunk)
            np.testing.assert_allclose(got.cmc, ref.cmc, atol=1e-12)
            assert got.mAP == pytest.approx(ref.mAP, abs=1e-12)
            assert got.mINP == pytest.approx(ref.mINP, abs=1e-12)
            assert got.num_valid_queries == ref.num_valid_queries
        compared += 1
    assert compared > 40


@pytest.mark.parametrize("protocol", ["sysu", "llcm"])
def test_chunk_size_invariance_on_a_larger_case(protocol):
    rng = np.random.default_rng(5)
    q, g = 150, 400
    g_pids = np.arange(g) % 60
    args = (
        rng.random((q, g)),
        rng.integers(0, 60, q),
        g_pids,
        rng.choice([3, 6], q) if protocol == "sysu" else rng.integers(1, 10, q),
        rng.choice([1, 2, 4, 5], g) if protocol == "sysu" else rng.integers(1, 10, g),
    )
    results = [evaluate(*args, protocol=protocol, chunk_size=c) for c in (1, 7, q)]
    for r in results[1:]:
        np.testing.assert_array_equal(r.cmc, results[0].cmc)
        assert r.mAP == pytest.approx(results[0].mAP, abs=1e-14)
        assert r.mINP == pytest.approx(results[0].mINP, abs=1e-14)


@pytest.mark.parametrize("width", [1, 7, 8, 63, 64, 72, 301, 2056, 2400, 65543])
def test_row_counts_every_width(width):
    """Word sums (widths of 8k with 8..255-word segments) and byte sums agree with count_nonzero."""
    from vireid.evaluation.metrics import _row_counts

    mask = np.random.default_rng(width).random((5, width)) < 0.7
    mask[0] = True  # a full row: the largest count, no lane may overflow
    np.testing.assert_array_equal(_row_counts(mask), np.count_nonzero(mask, axis=1))


@pytest.mark.parametrize("protocol", ["sysu", "regdb", "llcm"])
def test_wide_gallery_matches_loop(protocol):
    """Galleries whose width takes the uint64 word path (512 = 64 words), several blocks of rows."""
    rng = np.random.default_rng(11)
    q, g = 70, 512
    args = (
        rng.random((q, g)).astype(np.float32),
        rng.integers(0, 90, q),
        rng.integers(0, 80, g),
        rng.choice([3, 6], q) if protocol == "sysu" else rng.integers(1, 10, q),
        rng.choice([1, 2, 4, 5], g) if protocol == "sysu" else rng.integers(1, 10, g),
    )
    ref = evaluate_reference(*args, protocol=protocol)
    for chunk in (None, 3):
        got = evaluate(*args, protocol=protocol, chunk_size=chunk)
        np.testing.assert_allclose(got.cmc, ref.cmc, atol=1e-12)
        assert got.mAP == pytest.approx(ref.mAP, abs=1e-12) and got.mINP == pytest.approx(ref.mINP, abs=1e-12)


def test_torch_and_float32_inputs():
    rng = np.random.default_rng(3)
    dist, qp, gp = rng.random((20, 30)), rng.integers(0, 5, 20), rng.integers(0, 5, 30)
    ref = evaluate(dist.astype(np.float32).astype(np.float64), qp, gp, protocol="regdb")
    got = evaluate(
        torch.from_numpy(dist.astype(np.float32)), torch.from_numpy(qp), torch.from_numpy(gp), protocol="regdb"
    )
    np.testing.assert_array_equal(got.cmc, ref.cmc)
    assert got.mAP == ref.mAP


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(distmat=np.ones(4)), ShapeError, "2-D"),
        (dict(distmat=np.ones((0, 3)), q_pids=[]), ShapeError, "query set is empty"),
        (dict(distmat=np.ones((2, 0)), g_pids=[]), ShapeError, "gallery is empty"),
        (dict(q_pids=[1, 2, 3]), ShapeError, "q_pids: expected 2 entries"),
        (dict(g_pids=[1]), ShapeError, "g_pids: expected 3 entries"),
        (dict(q_pids=[1.5, 2.0]), ShapeError, "integer ids"),
        (dict(distmat=np.array([[0.1, np.nan, 0.3], [0.1, 0.2, 0.3]])), ShapeError, r"NaN.*query 0, gallery 1"),
        (dict(distmat=np.array([[0.1, 0.2, 0.3], [0.1, 0.2, np.inf]])), ShapeError, "inf"),
        (dict(protocol="market"), VireidError, "unknown evaluation protocol"),
        (dict(protocol="sysu", q_camids=None), VireidError, "needs q_camids and g_camids"),
        (dict(protocol="llcm", g_camids=None), VireidError, "needs q_camids and g_camids"),
        (dict(g_camids=[1, 2]), ShapeError, "g_camids"),
        (dict(q_pids=[7, 8]), VireidError, "no query has a true match"),
        (dict(max_rank=0), VireidError, "max_rank"),
        (dict(chunk_size=0), VireidError, "chunk_size"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = dict(
        distmat=np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]),
        q_pids=[1, 2],
        g_pids=[1, 2, 2],
        q_camids=[3, 6],
        g_camids=[1, 2, 4],
        protocol="regdb",
    )
    args.update(kwargs)
    with pytest.raises(error, match=match):
        evaluate(args.pop("distmat"), args.pop("q_pids"), args.pop("g_pids"), **args)
