"""EvalResult, multi-trial aggregation and the metrics table."""

from __future__ import annotations

import numpy as np
import pytest

from vireid.errors import VireidError
from vireid.evaluation import SCORE_NAMES, EvalResult, aggregate, format_table


def _res(r1, mAP, mINP):
    return EvalResult(cmc=np.array([r1] + [0.9] * 19), mAP=mAP, mINP=mINP, num_valid_queries=10)


def test_aggregate_mean_std_and_trials():
    agg = aggregate([_res(0.5, 0.4, 0.2), _res(0.7, 0.6, 0.4)])
    assert agg["num_trials"] == 2
    assert agg["mean"]["rank1"] == pytest.approx(0.6)
    assert agg["std"]["rank1"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert agg["mean"]["mINP"] == pytest.approx(0.3)
    assert agg["trials"][1]["mAP"] == pytest.approx(0.6)
    assert set(agg["mean"]) == set(SCORE_NAMES)
    assert aggregate([_res(0.5, 0.4, 0.2)])["std"]["mAP"] == 0.0
    with pytest.raises(VireidError):
        aggregate([])


def test_format_table_markdown_and_plain():
    md = format_table([_res(0.5, 0.4, 0.2), _res(0.7, 0.6, 0.4)], names=["t0", "t1"])
    lines = md.splitlines()
    assert lines[0].startswith("| trial | Rank-1")
    assert "| t0 | 50.00 | 90.00 | 90.00 | 90.00 | 40.00 | 20.00 |" in lines
    assert lines[-1].startswith("| mean ± std | 60.00 ± 14.14")
    plain = format_table(_res(0.5, 0.4, 0.2), style="plain")
    assert "mean" not in plain and "50.00" in plain and "|" not in plain
    with pytest.raises(ValueError):
        format_table([_res(0.5, 0.4, 0.2)], names=["a", "b"])


@pytest.mark.parametrize("style", ["markdown", "plain"])
def test_a_name_with_control_characters_stays_one_row(style):
    """Row names are often file names (evaluate's gallery files): a tab or newline in one is
    escaped, never a fake row or a broken column (found by the fuzzer: 'pl\\tain.safetensors')."""
    table = format_table([_res(0.5, 0.4, 0.2)] * 2, names=["pl\tain.safetensors", "a\n| fake | 99.00"], style=style)
    assert len(table.splitlines()) == (5 if style == "markdown" else 4), table
    assert "pl\\tain.safetensors" in table and "\t" not in table


def test_metrics_is_a_deprecated_alias_of_score_names():
    import vireid.evaluation as ev

    with pytest.warns(DeprecationWarning, match="SCORE_NAMES"):
        assert ev.METRICS is SCORE_NAMES
    with pytest.raises(AttributeError):
        ev.NO_SUCH_NAME  # noqa: B018
