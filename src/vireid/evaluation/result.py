"""Evaluation result, multi-trial aggregation and the metrics table.

SYSU-MM01, RegDB and LLCM are reported as the mean over 10 trials (random
gallery draws or train/test splits).  :func:`aggregate` gives the mean and the
standard deviation per metric; :func:`format_table` prints one row per trial and
a ``mean ± std`` row, in percent, as papers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vireid.errors import VireidError
from vireid.utils.paths import shown

RANKS: tuple[int, ...] = (1, 5, 10, 20)
#: ranks of the mean CMC curve :func:`aggregate` reports (1..CMC_LENGTH)
CMC_LENGTH = 20
#: names of the scores of an evaluation, in table order (keys of :func:`aggregate`'s mean/std)
SCORE_NAMES: tuple[str, ...] = tuple(f"rank{k}" for k in RANKS) + ("mAP", "mINP")


@dataclass(frozen=True, eq=False)
class EvalResult:
    """CMC curve, mAP and mINP of one evaluation (all fractions in [0, 1]).

    ``cmc[k - 1]`` is the Rank-k accuracy.  ``cmc`` has ``min(max_rank,
    num_gallery)`` entries, as in the authors' code; :meth:`rank` saturates for
    larger k (Rank-k for k beyond the gallery is the fraction of queries matched
    at all, i.e. the last CMC value).
    """

    cmc: np.ndarray
    mAP: float
    mINP: float
    num_valid_queries: int

    def rank(self, k: int) -> float:
        """Rank-k accuracy (k >= 1)."""
        if k < 1:
            raise ValueError(f"rank must be >= 1, got {k}")
        return float(self.cmc[min(k, len(self.cmc)) - 1])

    def curve(self, length: int = CMC_LENGTH) -> np.ndarray:
        """Rank-1..Rank-``length`` accuracies (saturated beyond the gallery, as :meth:`rank`)."""
        return np.asarray([self.rank(k) for k in range(1, length + 1)], dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        """``rank1, rank5, rank10, rank20, mAP, mINP`` as plain floats."""
        out = {f"rank{k}": self.rank(k) for k in RANKS}
        out["mAP"] = float(self.mAP)
        out["mINP"] = float(self.mINP)
        return out


def aggregate(results: Sequence[EvalResult]) -> dict:
    """Mean and standard deviation per metric over trials.

    Returns ``{"num_trials", "mean": {metric: v}, "std": {metric: v}, "cmc": [Rank-1 ..
    Rank-20, mean over trials], "trials": [per-trial dicts]}``.  The std is the sample
    standard deviation (ddof=1), the usual choice when the trials are a sample of random
    gallery draws; it is 0.0 for a single trial.
    """
    if not results:
        raise VireidError("aggregate: no evaluation results given")
    trials = [r.as_dict() for r in results]
    table = np.array([[t[m] for m in SCORE_NAMES] for t in trials], dtype=np.float64)
    mean = table.mean(axis=0)
    std = table.std(axis=0, ddof=1) if len(trials) > 1 else np.zeros(len(SCORE_NAMES))
    return {
        "num_trials": len(trials),
        "mean": {m: float(v) for m, v in zip(SCORE_NAMES, mean, strict=True)},
        "std": {m: float(v) for m, v in zip(SCORE_NAMES, std, strict=True)},
        "cmc": [float(v) for v in np.mean([r.curve() for r in results], axis=0)],
        "trials": trials,
    }


def format_table(
    results: Sequence[EvalResult] | EvalResult, *, names: Sequence[str] | None = None, style: str = "markdown"
) -> str:
    """Metrics table in percent: one row per trial, then ``mean ± std`` if several.

    ``style`` is ``"markdown"`` (pipe table) or ``"plain"`` (aligned columns).
    """
    if isinstance(results, EvalResult):
        results = [results]
    if style not in ("markdown", "plain"):
        raise ValueError(f"unknown table style {style!r}; expected 'markdown' or 'plain'")
    agg = aggregate(results)
    if names is None:
        names = [f"trial {i}" for i in range(len(results))] if len(results) > 1 else ["result"]
    if len(names) != len(results):
        raise ValueError(f"{len(names)} names for {len(results)} results")
    header = ["trial", "Rank-1", "Rank-5", "Rank-10", "Rank-20", "mAP", "mINP"]
    # a name is often a file's (evaluate: the gallery files): one printable line in its cell
    rows = [
        [shown(str(n))] + [f"{100 * t[m]:.2f}" for m in SCORE_NAMES] for n, t in zip(names, agg["trials"], strict=True)
    ]
    if len(results) > 1:
        rows.append(["mean ± std"] + [f"{100 * agg['mean'][m]:.2f} ± {100 * agg['std'][m]:.2f}" for m in SCORE_NAMES])
    if style == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    return "\n".join([fmt(header)] + [fmt(r) for r in rows])
