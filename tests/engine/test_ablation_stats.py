"""Student's t and the paired difference of :mod:`vireid.engine.ablation.stats` (by hand)."""

import math
import statistics

import pytest

from vireid.engine.ablation.stats import (
    BETTER,
    NO_DIFFERENCE,
    ONE_SEED,
    WORSE,
    incomplete_beta,
    mean_std,
    paired_difference,
    t_cdf,
    t_quantile,
    verdict,
)

BASE = [0.50, 0.60, 0.70]  # large spread between seeds ...
TMHEE = [0.53, 0.62, 0.74]  # ... but +3, +2, +4 on every seed: paired, clearly better
CMATM = [0.60, 0.52, 0.71]  # +10, -8, +1: no consistent difference


def test_t_quantiles_match_published_tables():
    # two-sided 95 % critical values of Student's t (e.g. NIST/SEMATECH handbook table)
    for df, want in ((1, 12.7062047), (2, 4.3026527), (4, 2.7764451), (10, 2.2281389), (30, 2.0422725)):
        assert t_quantile(0.975, df) == pytest.approx(want, abs=1e-6)
    assert t_quantile(0.995, 2) == pytest.approx(9.9248432, abs=1e-6)
    assert t_quantile(0.025, 4) == pytest.approx(-2.7764451, abs=1e-6)
    assert t_quantile(0.975, 10_000) == pytest.approx(1.95996, abs=1e-3)  # -> normal
    assert t_cdf(0.0, 3) == pytest.approx(0.5)
    assert t_cdf(1.0, 1) == pytest.approx(0.75)  # Cauchy: 1/2 + atan(1)/pi
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


def test_verdict_words():
    assert verdict(paired_difference(dict(enumerate(TMHEE)), dict(enumerate(BASE)))) == BETTER
    assert verdict(paired_difference(dict(enumerate(BASE)), dict(enumerate(TMHEE)))) == WORSE
    assert verdict(paired_difference(dict(enumerate(CMATM)), dict(enumerate(BASE)))) == NO_DIFFERENCE
    assert verdict(paired_difference({0: 0.9}, {0: 0.1})) == ONE_SEED
    assert NO_DIFFERENCE == "no difference at this scale"
    assert mean_std([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError):
        mean_std([])
