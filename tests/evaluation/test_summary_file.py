"""The one metrics.json reader: any value where a score or the CMC goes is accepted when it is a
fraction and refused with a VireidError naming the field otherwise -- never another exception."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vireid.errors import VireidError
from vireid.evaluation.summary_file import read_metrics_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)
SCORES = ("rank1", "rank10", "rank20", "mAP", "mINP")


def _fraction(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1


def _write(tmp_path, rank1, cmc):
    mean = {"rank1": rank1, "rank5": 0.5, "rank10": 0.6, "rank20": 0.7, "mAP": 0.4, "mINP": 0.3}
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"protocol": "sysu", "directions": {"infrared_to_visible": {"mean": mean, "cmc": cmc}}}))
    return path


@settings(max_examples=150, deadline=None)
@given(rank1=JSON, cmc=JSON)
def test_scores_and_cmc_are_fractions_or_refused(tmp_path_factory, rank1, cmc):
    path = _write(tmp_path_factory.mktemp("m"), rank1, cmc)
    good_cmc = cmc is None or (
        isinstance(cmc, list)
        and len(cmc) > 0
        and all(_fraction(v) for v in cmc)
        and all(b >= a for a, b in zip(cmc, cmc[1:], strict=False))
    )
    if good_cmc and cmc is not None and _fraction(rank1):  # each mean Rank-k is the curve at k
        mean = {1: rank1, 5: 0.5, 10: 0.6, 20: 0.7}
        good_cmc = all(abs(mean[k] - cmc[k - 1]) <= 1e-4 for k in mean if k <= len(cmc))
    if _fraction(rank1) and good_cmc:
        assert read_metrics_json(path, scores=SCORES)["directions"]["infrared_to_visible"]["mean"]["rank1"] == rank1
        return
    with pytest.raises(VireidError) as exc:
        read_metrics_json(path, scores=SCORES)
    text = str(exc.value)
    assert "\n" not in text and str(path) in text and ("rank1" in text if not _fraction(rank1) else "'cmc'" in text)


def test_a_key_given_twice_is_refused(tmp_path):
    """JSON keeps the last of a key given twice, silently: the reader refuses it, naming the key,
    as the YAML loader does (found by the fuzzer: a metrics.json with 'protocol' twice)."""
    path = _write(tmp_path, 0.5, [0.5] * 20)
    text = path.read_text()
    path.write_text(text.replace('{"protocol": "sysu",', '{"protocol": "sysu", "protocol": "regdb",', 1))
    with pytest.raises(VireidError, match="key 'protocol' is given twice"):
        read_metrics_json(path)


@pytest.mark.parametrize(
    "cmc, trials, said",
    [
        ([], None, "'cmc' is not a list of fractions"),
        ([0.5, 0.7, 0.6], None, "'cmc' falls at rank 3 (0.7 -> 0.6); a CMC curve is cumulative"),
        ([0.5], -3, "num_trials is -3; expected an integer >= 1"),
        ([0.5], 2.5, "num_trials is 2.5; expected an integer >= 1"),
        ([0.5], True, "num_trials is true; expected an integer >= 1"),
        ([0.5], 3, "num_trials is 3 but 1 trials are listed"),
        ([0.4, 0.5], None, "mean rank1 is 0.5 but the 'cmc' curve at rank 1 is 0.4"),
        ([0.5, 0.5, 0.5, 0.5, 0.55], None, "mean rank5 is 0.5 but the 'cmc' curve at rank 5 is 0.55"),
    ],
)
def test_a_curve_or_a_count_no_evaluation_makes_is_refused(tmp_path, cmc, trials, said):
    """An empty or falling CMC, one that disagrees with the mean Rank-k, and a trial count that is
    not one were reported as given."""
    path = _write(tmp_path, 0.5, cmc)
    data = json.loads(path.read_text())
    if trials is not None:
        data["directions"]["infrared_to_visible"].update(num_trials=trials, trials=[{"trial": 0}])
    path.write_text(json.dumps(data))
    with pytest.raises(VireidError) as exc:
        read_metrics_json(path, scores=SCORES)
    assert said in str(exc.value) and str(path) in str(exc.value)
