"""Protocol objects: keep masks equal the reference's rules, the metrics obey any protocol object."""

from __future__ import annotations

import numpy as np
import pytest

from tests.evaluation.reference import _kept_gallery
from vireid.errors import VireidError
from vireid.evaluation import evaluate
from vireid.evaluation.protocols import LLCM, PLAIN, PROTOCOLS, REGDB, SYSU, EvalProtocol, get_protocol


def _case(seed: int, q: int = 40, g: int = 60, ids: int = 8, cams=(1, 2, 3, 4, 5, 6)):
    rng = np.random.default_rng(seed)
    return (
        rng.random((q, g)),
        rng.integers(0, ids, q),
        rng.integers(0, ids, g),
        rng.choice(cams, q),
        rng.choice(cams, g),
    )


@pytest.mark.parametrize("name", ["sysu", "regdb", "llcm", "plain"])
def test_keep_equals_the_reference_rules(name):
    _, qp, gp, qc, gc = _case(0)
    keep = get_protocol(name).keep(qp, qc, gp, gc)
    ref = np.stack([_kept_gallery("regdb" if name == "plain" else name, qp[i], qc[i], gp, gc) for i in range(len(qp))])
    assert keep.shape == (len(qp), len(gp)) and np.array_equal(keep, ref)


def test_sysu_hides_all_of_camera_2_from_camera_3_queries():
    keep = SYSU.keep([1, 1], [3, 6], [1, 2, 1, 2], [2, 2, 1, 1])
    assert keep.tolist() == [[False, False, True, True], [True, True, True, True]]
    assert LLCM.keep([1], [2], [1, 2, 1], [2, 2, 1]).tolist() == [[False, True, True]]


def test_rules_trials_directions():
    assert SYSU.directions == ("infrared_to_visible",) and SYSU.trials == tuple(range(10))
    assert REGDB.trial_is_split and REGDB.trials == tuple(range(1, 11))
    assert REGDB.directions[0] == "visible_to_infrared" and LLCM.directions[0] == "infrared_to_visible"
    assert tuple(PROTOCOLS) == ("sysu", "regdb", "llcm", "plain") and not PLAIN.needs_camids
    assert REGDB.keep([1], None, [1, 2], None).all()
    with pytest.raises(VireidError, match="camera ids"):
        SYSU.keep([1], None, [1], None)
    with pytest.raises(VireidError, match="expected one of sysu, regdb, llcm, plain"):
        get_protocol("market")
    assert get_protocol(SYSU) is SYSU


@pytest.mark.parametrize("dedup", [False, True])
def test_metrics_follow_any_protocol_object(dedup):
    """A protocol with two hidden camera pairs and the same-camera rule: the vectorised metrics equal
    each query evaluated alone against only the gallery items its keep mask allows."""
    rules = EvalProtocol("custom", hidden_cameras=((3, 2), (6, 5)), same_camera_same_identity=True, dedup_cmc=dedup)
    alone = EvalProtocol("alone", dedup_cmc=dedup)
    d, qp, gp, qc, gc = _case(1, g=40, ids=16)
    got = evaluate(d, qp, gp, qc, gc, protocol=rules, max_rank=5)
    keep = rules.keep(qp, qc, gp, gc)
    aps, inps, cmcs = [], [], []
    for i in range(len(qp)):
        k = keep[i]
        if not (gp[k] == qp[i]).any():
            continue
        r = evaluate(d[i : i + 1, k], qp[i : i + 1], gp[k], protocol=alone, max_rank=5)
        aps.append(r.mAP)
        inps.append(r.mINP)
        cmcs.append(np.pad(r.cmc, (0, 5 - len(r.cmc)), mode="edge"))
    assert got.num_valid_queries == len(aps) < len(qp)
    assert got.mAP == pytest.approx(np.mean(aps)) and got.mINP == pytest.approx(np.mean(inps))
    np.testing.assert_allclose(got.cmc, np.mean(cmcs, axis=0))
