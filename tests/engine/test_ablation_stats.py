import math
import statistics

import pytest

from vireid.engine.ablation_stats import (base_matcher, compare_to_base, group_runs, incomplete_beta,
                                          paired_difference, stats_table, t_cdf, t_quantile, verdict)

EXP = "model.args.expansion"
DEPTH = "model.args.stage4_depth"


def run(combo, seed, rank1):
    return {"combo": combo, "seed": seed, "metrics": {"rank1": rank1, "mAP": rank1 / 2}, "train_seconds": 1.0}


# A hand-made one-factor-at-a-time table: the base row appears once per axis (same runs).
BASE = [0.50, 0.60, 0.70]            # large spread between seeds ...
TMHEE = [0.53, 0.62, 0.74]           # ... but +3, +2, +4 on every seed: paired, clearly better
CMATM = [0.60, 0.52, 0.71]           # +10, -8, +1: no consistent difference
TABLE = ([run({EXP: "dee"}, s, v) for s, v in enumerate(BASE)]
         + [run({EXP: "tmhee"}, s, v) for s, v in enumerate(TMHEE)]
         + [run({EXP: "cmatm"}, s, v) for s, v in enumerate(CMATM)]
         + [run({DEPTH: "1"}, s, v) for s, v in enumerate(BASE)]
         + [run({DEPTH: "3"}, 0, 0.45)])  # one seed only


def test_t_quantiles_match_published_tables():
    # two-sided 95 % critical values of Student's t (e.g. NIST/SEMATECH handbook table)
    for df, want in ((1, 12.7062047), (2, 4.3026527), (4, 2.7764451), (10, 2.2281389), (30, 2.0422725)):
        assert t_quantile(0.975, df) == pytest.approx(want, abs=1e-6)
    assert t_quantile(0.995, 2) == pytest.approx(9.9248432, abs=1e-6)
    assert t_quantile(0.025, 4) == pytest.approx(-2.7764451, abs=1e-6)
    assert t_quantile(0.975, 10_000) == pytest.approx(1.95996, abs=1e-3)  # -> normal
    assert t_cdf(0.0, 3) == pytest.approx(0.5)
    assert t_cdf(1.0, 1) == pytest.approx(0.75)          # Cauchy: 1/2 + atan(1)/pi
    assert incomplete_beta(1.0, 1.0, 0.3) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)


def test_paired_difference_by_hand():
    d = paired_difference(dict(enumerate(TMHEE)), dict(enumerate(BASE)))
    diffs = [0.03, 0.02, 0.04]
    assert d.seeds == (0, 1, 2) and d.n == 3
    assert d.mean == pytest.approx(0.03)
    assert d.std == pytest.approx(statistics.stdev(diffs))  # 0.01
    assert d.half_width == pytest.approx(4.3026527 * 0.01 / math.sqrt(3), rel=1e-6)  # 0.02484
    assert (d.low, d.high) == pytest.approx((0.03 - 0.0248418, 0.03 + 0.0248418), abs=1e-6)
    assert d.significant is True
    # unpaired, the two rows' seed spreads (std 0.10) would swamp the +3 points
    assert statistics.stdev(BASE) > 3 * d.mean

    noisy = paired_difference(dict(enumerate(CMATM)), dict(enumerate(BASE)))
    assert noisy.mean == pytest.approx(0.01)
    assert noisy.significant is False and noisy.low < 0 < noisy.high


def test_paired_difference_uses_common_seeds_and_handles_one_pair():
    d = paired_difference({0: 0.5, 1: 0.7, 5: 0.9}, {0: 0.4, 1: 0.5, 2: 0.1})
    assert d.seeds == (0, 1) and d.mean == pytest.approx(0.15)
    one = paired_difference({3: 0.5}, {3: 0.4})
    assert math.isnan(one.half_width) and one.significant is None
    with pytest.raises(ValueError):
        paired_difference({0: 0.5}, {1: 0.5})
    # a lower confidence gives a narrower interval
    wide = paired_difference(dict(enumerate(CMATM)), dict(enumerate(BASE)), confidence=0.99)
    narrow = paired_difference(dict(enumerate(CMATM)), dict(enumerate(BASE)), confidence=0.80)
    assert narrow.half_width < wide.half_width


def test_compare_to_base_on_a_one_factor_table():
    rows = compare_to_base(TABLE, base={EXP: "dee", DEPTH: "1"})
    by = {r.label: r for r in rows}
    assert set(by) == {"expansion=dee", "expansion=tmhee", "expansion=cmatm", "stage4_depth=1", "stage4_depth=3"}
    assert by["expansion=dee"].is_base and by["stage4_depth=1"].is_base
    assert by["expansion=dee"].diff is None
    assert by["expansion=dee"].mean == pytest.approx(0.6) and by["expansion=dee"].std == pytest.approx(0.1)
    assert by["expansion=tmhee"].diff.significant is True
    assert by["expansion=cmatm"].diff.significant is False
    assert by["stage4_depth=3"].diff.seeds == (0,) and by["stage4_depth=3"].diff.mean == pytest.approx(-0.05)

    text = verdict(by["expansion=tmhee"], base_label="DEE")
    assert text.startswith("expansion=tmhee vs DEE: +3.0 ± 2.5 Rank-1") and text.endswith("significant at this scale")
    assert "not significant" in verdict(by["expansion=cmatm"])
    assert "one seed" in verdict(by["stage4_depth=3"])

    table = stats_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    tmhee = next(line for line in table if "tmhee" in line)
    assert "| 63.0 ± 10.5 | +3.0 | [+0.5, +5.5] | yes | 3 |" in tmhee
    assert "(base)" in next(line for line in table if "=dee" in line)


def test_other_metric_predicate_base_and_errors():
    rows = compare_to_base(TABLE, base=lambda c: c.get(EXP) == "dee", metric="mAP")
    tmhee = next(r for r in rows if r.label == "expansion=tmhee")
    assert tmhee.diff.mean == pytest.approx(0.015)
    assert base_matcher(None)({}) and not base_matcher(None)({EXP: "dee"})
    with pytest.raises(ValueError, match="base row"):
        compare_to_base(TABLE, base={EXP: "ssdec"})
    with pytest.raises(ValueError, match="seed 0"):
        group_runs(TABLE + [run({EXP: "dee"}, 0, 0.1)])
