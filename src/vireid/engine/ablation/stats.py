"""Paired statistics of an ablation (pure Python, no SciPy).

An ablation runs every cell with the same seeds, so a cell and the reference cell form pairs
(same seed: same data order, same initialisation of the shared parts).  The difference to the
reference is taken *paired by seed*: ``d_s = cell_s - reference_s``, its mean, and the Student-t
confidence interval ``mean(d) +- t_{(1+c)/2, n-1} * sd(d) / sqrt(n)`` (n seeds, n - 1 degrees of
freedom).  The verdict is "better" or "worse" when that interval excludes zero and "no
difference at this scale" when it holds zero -- a statement about these seeds at the scale of
the runs, not about the design in general.  :mod:`vireid.engine.ablation.report` puts both in
the ablation table and picture.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping, Sequence

#: the verdict words (:func:`verdict`)
BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no difference at this scale"
ONE_SEED = "one seed: no interval"


# --------------------------------------------------------------------------- Student's t
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on :func:`t_cdf`; |error| < 1e-10)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------- paired differences
def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    if not values:
        raise ValueError("mean_std of no values")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


@dataclass(frozen=True)
class PairedDiff:
    """``cell - reference`` over ``seeds``: mean, sample std of the differences and the CI half-width."""

    seeds: tuple[int, ...]
    mean: float
    std: float
    half_width: float  # nan with fewer than two pairs
    confidence: float = 0.95

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def significant(self) -> bool | None:
        """True when the interval excludes 0; None when there is no interval (one pair)."""
        if math.isnan(self.half_width):
            return None
        return self.low > 0.0 or self.high < 0.0


def paired_difference(row: Mapping[int, float], base: Mapping[int, float], confidence: float = 0.95) -> PairedDiff:
    """``row - base`` paired by seed (the seeds both have), with a Student-t interval (n - 1 dof).

    ``row`` and ``base`` map seed -> metric."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    seeds = tuple(sorted(set(row) & set(base)))
    if not seeds:
        raise ValueError(f"no common seeds: row has {sorted(row)}, base has {sorted(base)}")
    diffs = [row[s] - base[s] for s in seeds]
    mean, std = mean_std(diffs)
    n = len(diffs)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    return PairedDiff(seeds, mean, std, half, confidence)


def verdict(diff: PairedDiff) -> str:
    """ "better" / "worse" when the interval excludes 0 (above / below), "no difference at this
    scale" when it holds 0, and :data:`ONE_SEED` without an interval."""
    if diff.significant is None:
        return ONE_SEED
    if not diff.significant:
        return NO_DIFFERENCE
    return BETTER if diff.mean > 0 else WORSE
