"""An ablation's rows with their names, as one results file (``summary.json``) and as a forest plot.

:func:`label_rows` gives every row of :func:`vireid.engine.ablation.report.summarize` the names
the grid declares (:class:`vireid.engine.ablation.grid.GridLabels`): ``label`` (its value's, e.g.
``T-MHEE``), ``axis`` (the one grid key it varies, in ``each`` mode) and ``title`` (that axis's
question).  :func:`write_summary` / :func:`load_summary` store them with the scores and the paired
differences; the forest plot and any table of the ablation are drawn from that file alone, so a
figure and a table made from it cannot disagree.  :func:`forest_groups` turns the rows into the
forest plot's groups: one per design question, one line per alternative, the reference (the
question's base value) as the zero line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from vireid.engine.ablation.grid import GridLabels
from vireid.engine.ablation.report import COMPARED_SCORES, REPORTED_SCORES
from vireid.engine.ablation.stats import PairedDiff
from vireid.errors import VireidError
from vireid.utils.jsonio import json_loads

FORMAT = "vireid ablation summary"


@dataclass(frozen=True)
class RecordedDiff(PairedDiff):
    """A paired difference read back from a summary: its interval as the file records it (a
    transcribed file holds rounded means and bounds, which ``mean ± half_width`` would not give)."""

    recorded_low: float = math.nan
    recorded_high: float = math.nan

    @property
    def low(self) -> float:
        return self.mean - self.half_width if math.isnan(self.recorded_low) else self.recorded_low

    @property
    def high(self) -> float:
        return self.mean + self.half_width if math.isnan(self.recorded_high) else self.recorded_high


def label_rows(rows: Sequence[dict[str, Any]], labels: GridLabels | None = None) -> list[dict[str, Any]]:
    """``rows`` with ``label``, ``axis`` and ``title`` added (module docstring)."""
    labels = labels or GridLabels()
    out = []
    for r in rows:
        axis = next(iter(r["combo"])) if len(r["combo"]) == 1 else None
        out.append(
            {
                **r,
                "label": labels.cell(r["combo"]),
                "axis": axis,
                "title": labels.title(axis) if axis else "all combinations",
            }
        )
    return out


def _diff_json(d: PairedDiff) -> dict[str, Any]:
    half = None if math.isnan(d.half_width) else d.half_width
    return {
        "seeds": list(d.seeds),
        "mean": d.mean,
        "std": d.std,
        "half_width": half,
        "low": None if half is None else d.low,
        "high": None if half is None else d.high,
        "confidence": d.confidence,
    }


def summary_json(rows: Sequence[dict[str, Any]], **about: Any) -> dict[str, Any]:
    """The rows as plain JSON (``about``: where they come from, the scale, ...)."""
    out = []
    for r in rows:
        entry = {k: r[k] for k in ("combo", "label", "axis", "title", "seeds", "params", "reference", "verdict")}
        entry.update({m: list(r[m]) for m in REPORTED_SCORES})
        entry["train_seconds"] = list(r["train_seconds"])
        entry["diff"] = None if not r.get("diff") else {m: _diff_json(d) for m, d in r["diff"].items()}
        if "per_seed" in r:
            entry["per_seed"] = r["per_seed"]
        out.append(entry)
    return {"format": FORMAT, **about, "rows": out}


def write_summary(path: str | Path, rows: Sequence[dict[str, Any]], **about: Any) -> Path:
    from vireid.utils.io import atomic_write_json
    from vireid.utils.outputs import ABLATION_SUMMARY

    atomic_write_json(path, summary_json(rows, **about), kind=ABLATION_SUMMARY)
    return Path(path)


def load_summary(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of a summary file (paired differences as :class:`PairedDiff`) and its other fields."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise VireidError(f"{path}: not a readable ablation summary ({exc.strerror or exc})") from None
    data = json_loads(raw, str(path), expected="an ablation summary")
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("rows"), list):
        raise VireidError(f"{path}: not an ablation summary (its 'format' must be {FORMAT!r})")
    rows = []
    for r in data["rows"]:
        row = dict(r)
        for m in REPORTED_SCORES:
            row[m] = tuple(r[m])
        row["train_seconds"] = tuple(r["train_seconds"])
        if r.get("diff"):
            row["diff"] = {
                m: RecordedDiff(
                    tuple(d["seeds"]),
                    d["mean"],
                    d["std"],
                    math.nan if d["half_width"] is None else d["half_width"],
                    d["confidence"],
                    math.nan if d.get("low") is None else d["low"],
                    math.nan if d.get("high") is None else d["high"],
                )
                for m, d in r["diff"].items()
            }
        rows.append(row)
    return rows, {k: v for k, v in data.items() if k != "rows"}


def forest_groups(rows: Sequence[dict[str, Any]], score: str = COMPARED_SCORES[0]):
    """One :class:`vireid.viz.forest.Group` per axis (question), in the grid's order: its
    alternatives' paired differences in percentage points; the reference named in its header."""
    from vireid.viz.forest import Group, Line

    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(r.get("axis") or "", {"title": r.get("title") or "", "reference": None, "lines": []})
        if r.get("reference"):
            g["reference"] = r["label"]
        elif r.get("diff"):
            d = r["diff"][score]
            interval = d.significant is not None
            g["lines"].append(
                Line(
                    r["label"],
                    100 * d.mean,
                    100 * d.low if interval else None,
                    100 * d.high if interval else None,
                    d.significant,
                )
            )
    return [Group(g["title"], g["reference"], tuple(g["lines"])) for g in groups.values() if g["lines"]]
