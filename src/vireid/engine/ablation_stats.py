"""Paired statistics of an ablation table (pure Python, no SciPy).

An ablation runs every row with the same seeds, so a row and the base row form pairs (same
seed: same data order, same initialisation of the shared parts).  Per row this module gives
the mean ± sample standard deviation of a metric over seeds, and the difference to the base
row *paired by seed*: ``d_s = row_s - base_s``, its mean, and the Student-t confidence
interval ``mean(d) ± t_{(1+c)/2, n-1} * sd(d) / sqrt(n)`` (n seeds, n - 1 degrees of freedom).
The difference is called significant when that interval excludes zero -- a statement about
these seeds at this scale, not about the design in general.

Input rows are the records of ``results.json`` written by :func:`vireid.engine.ablation.run_ablation`:
``{"combo": {axis: value}, "seed": int, "metrics": {"rank1": float, ...}, ...}`` (metrics as
fractions; tables print percentages).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

Combo = Mapping[str, str]


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
    """``row - base`` over ``seeds``: mean, sample std of the differences and the CI half-width."""

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
    """``row - base`` paired by seed (the seeds both have), with a Student-t interval (n - 1 dof)."""
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


# --------------------------------------------------------------------------- rows of a results table
@dataclass(frozen=True)
class RowStats:
    """One row of the table: its runs' metric per seed, mean ± std, and the paired difference to the base."""

    combo: dict[str, str]
    values: dict[int, float]
    mean: float
    std: float
    is_base: bool
    diff: PairedDiff | None  # None for the base row itself

    @property
    def label(self) -> str:
        return combo_label(self.combo)


def combo_label(combo: Combo) -> str:
    return ", ".join(f"{_short(k)}={v}" for k, v in combo.items()) or "base"


def _short(key: str) -> str:
    return "+".join(k.split(".")[-1] for k in key.split("+"))


def base_matcher(base: Combo | Callable[[Combo], bool] | None) -> Callable[[Combo], bool]:
    """A predicate "this combination is the base": every item of the combination is in ``base``
    (for one-factor-at-a-time grids, the base value of each axis), or a given predicate."""
    if callable(base):
        return base
    if base is None:
        return lambda combo: not combo
    items = {k: str(v) for k, v in base.items()}
    return lambda combo: all(items.get(k) == str(v) for k, v in combo.items())


def group_runs(results: Sequence[Mapping[str, Any]], metric: str = "rank1") -> list[tuple[dict[str, str], dict[int, float]]]:
    """``[(combo, {seed: metric})]`` in first-seen order."""
    rows: dict[str, tuple[dict[str, str], dict[int, float]]] = {}
    for r in results:
        combo = {str(k): str(v) for k, v in r["combo"].items()}
        key = json.dumps(combo, sort_keys=True)
        _, values = rows.setdefault(key, (combo, {}))
        seed = int(r["seed"])
        if seed in values:
            raise ValueError(f"two runs of {combo_label(combo)} with seed {seed}")
        values[seed] = float(r["metrics"][metric])
    return list(rows.values())


def compare_to_base(results: Sequence[Mapping[str, Any]], base: Combo | Callable[[Combo], bool] | None = None,
                    metric: str = "rank1", confidence: float = 0.95) -> list[RowStats]:
    """Per row: mean ± std of ``metric`` and its difference to the base row, paired by seed.

    ``base``: the base value of every axis (``{axis: value}``; a row is a base row when each of
    its items is one of these -- in a one-factor-at-a-time grid every axis has one), a
    predicate on the combination, or None (the row with no overrides).  The base values per
    seed are those of the first base row; every other row is compared with them.
    """
    is_base = base_matcher(base)
    grouped = group_runs(results, metric)
    base_values = next((values for combo, values in grouped if is_base(combo)), None)
    if base_values is None:
        raise ValueError("no row of the results is the base row")
    out = []
    for combo, values in grouped:
        mean, std = mean_std(list(values.values()))
        this_base = is_base(combo)
        diff = None if this_base else paired_difference(values, base_values, confidence)
        out.append(RowStats(combo, dict(values), mean, std, this_base, diff))
    return out


def verdict(row: RowStats, base_label: str = "base", metric_name: str = "Rank-1", scale: str = "this scale") -> str:
    """Plain words: ``"X vs base: +x ± y Rank-1, significant at this scale"`` (percentage points)."""
    if row.diff is None:
        return f"{row.label}: the base row ({100 * row.mean:.1f} ± {100 * row.std:.1f} {metric_name})"
    d = row.diff
    head = f"{row.label} vs {base_label}: {100 * d.mean:+.1f}"
    if d.significant is None:
        return f"{head} {metric_name} (one seed: no interval)"
    word = "significant" if d.significant else "not significant"
    return (f"{head} ± {100 * d.half_width:.1f} {metric_name} ({100 * d.confidence:.0f} % CI, n = {d.n} seeds), "
            f"{word} at {scale}")


def stats_table(rows: Sequence[RowStats], metric_name: str = "Rank-1") -> str:
    """Markdown: row, mean ± std, paired difference to the base with its interval, verdict."""
    head = (f"| row | {metric_name} (%) | Δ vs base (pp) | {int(round(100 * _conf(rows)))} % CI (pp) | "
            "significant | seeds |")
    lines = [head, "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r.label + (" (base)" if r.is_base else ""), f"{100 * r.mean:.1f} ± {100 * r.std:.1f}"]
        if r.diff is None:
            cells += ["–", "–", "–"]
        elif r.diff.significant is None:
            cells += [f"{100 * r.diff.mean:+.1f}", "n/a", "n/a"]
        else:
            cells += [f"{100 * r.diff.mean:+.1f}", f"[{100 * r.diff.low:+.1f}, {100 * r.diff.high:+.1f}]",
                      "yes" if r.diff.significant else "no"]
        cells.append(str(len(r.values)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _conf(rows: Sequence[RowStats]) -> float:
    return next((r.diff.confidence for r in rows if r.diff is not None), 0.95)
