"""Ablation results: per-run records, the table over seeds and the picture.

Every cell (one combination of grid values) is reported as mean ± std over its seeds and, when
the ablation has a *reference cell*, as its difference to that cell paired by seed, with a 95 %
Student-t interval and a verdict (:mod:`vireid.engine.ablation.stats`): "better" / "worse" when
the Rank-1 interval excludes 0, "no difference at this scale" when it holds 0.  The reference
cell is the one whose config is the base config (in ``each`` mode, the base value of every
axis), else the first combination (:func:`vireid.engine.ablation.runner.run_ablation` marks it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from vireid.engine.ablation.grid import short_key
from vireid.engine.ablation.stats import PairedDiff, mean_std, paired_difference, verdict

#: the scores the ablation table reports (a subset of :data:`vireid.evaluation.result.SCORE_NAMES`)
REPORTED_SCORES = ("rank1", "mAP", "mINP")
#: the scores compared with the reference cell (paired differences); the verdict is the first one's
COMPARED_SCORES = ("rank1", "mAP")
CONFIDENCE = 0.95
REFERENCE = "reference"
_NAMES = {"rank1": "Rank-1", "mAP": "mAP", "mINP": "mINP"}

__all__ = [
    "COMPARED_SCORES",
    "REPORTED_SCORES",
    "RunResult",
    "combo_label",
    "markdown_table",
    "mean_std",
    "notes",
    "plot",
    "report_markdown",
    "summarize",
]


@dataclass(frozen=True)
class RunResult:
    combo: dict[str, str]
    seed: int
    metrics: dict[str, float]
    train_seconds: float
    params: int
    reference: bool = False  # this run's config is the reference cell's (the base config)


def combo_label(combo: dict[str, str]) -> str:
    return ", ".join(f"{short_key(k)}={v}" for k, v in combo.items()) or "base"


def summarize(results: Sequence[RunResult], confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """One row per combination: mean/std of each metric over seeds, train time, params, and --
    when some run is marked ``reference`` -- the paired difference to the reference cell.

    Row keys: ``combo``, ``seeds``, one ``(mean, std)`` per :data:`REPORTED_SCORES`, ``per_seed``
    (``{score: {seed: value}}``),
    ``train_seconds``, ``params``, ``reference`` (bool), ``diff`` (``{score: PairedDiff}`` for
    :data:`COMPARED_SCORES`, None for the reference cell or without one) and ``verdict`` (the
    Rank-1 difference's :func:`~vireid.engine.ablation.stats.verdict`, ``"reference"``, or None).
    """
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        key = json.dumps(r.combo, sort_keys=True)
        row = rows.setdefault(key, {"combo": r.combo, "runs": []})
        row["runs"].append(r)
    ref_runs = next((row["runs"] for row in rows.values() if any(r.reference for r in row["runs"])), None)
    ref = None if ref_runs is None else {m: {r.seed: r.metrics[m] for r in ref_runs} for m in COMPARED_SCORES}
    out = []
    for row in rows.values():
        runs = row["runs"]
        entry: dict[str, Any] = {"combo": row["combo"], "seeds": [r.seed for r in runs]}
        for m in REPORTED_SCORES:
            entry[m] = mean_std([r.metrics[m] for r in runs])
        entry["per_seed"] = {m: {str(r.seed): r.metrics[m] for r in runs} for m in REPORTED_SCORES}
        entry["train_seconds"] = mean_std([r.train_seconds for r in runs])
        entry["params"] = runs[0].params
        entry["reference"] = any(r.reference for r in runs)
        entry["diff"], entry["verdict"] = None, None
        if entry["reference"]:
            entry["verdict"] = REFERENCE
        elif ref is not None:
            entry["diff"] = {
                m: paired_difference({r.seed: r.metrics[m] for r in runs}, ref[m], confidence) for m in COMPARED_SCORES
            }
            entry["verdict"] = verdict(entry["diff"][COMPARED_SCORES[0]])
        out.append(entry)
    return out


def _diff_cell(d: PairedDiff) -> str:
    if d.significant is None:
        return f"{100 * d.mean:+.1f} (n = {d.n})"
    return f"{100 * d.mean:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """Mean ± std over seeds per cell; with a reference cell, the paired differences and the verdict."""
    keys = sorted({k for r in rows for k in r["combo"]})
    compared = any(r.get("verdict") for r in rows)
    conf = next((d.confidence for r in rows if r.get("diff") for d in r["diff"].values()), CONFIDENCE)
    extra = (
        (
            [f"Δ {_NAMES[m]} (pp) [{100 * conf:.0f} % CI]" for m in COMPARED_SCORES]
            + [f"verdict ({_NAMES[COMPARED_SCORES[0]]})"]
        )
        if compared
        else []
    )
    named = ["cell"] if any("label" in r for r in rows) else []  # rows named by label_rows
    head = (
        "| "
        + " | ".join(
            named + keys + ["Rank-1 (%)", "mAP (%)", "mINP (%)"] + extra + ["train (s)", "params (M)", "seeds"]
        )
        + " |"
    )
    lines = [head, "|" + "---|" * (len(named) + len(keys) + 6 + len(extra))]
    for r in rows:
        cells = [r.get("label", "")] if named else []
        cells += [str(r["combo"].get(k, "(base)")) for k in keys]
        spread = len(r["seeds"]) > 1  # a std needs two seeds at least
        cells += [
            f"{100 * r[m][0]:.1f} ± {100 * r[m][1]:.1f}" if spread else f"{100 * r[m][0]:.1f}" for m in REPORTED_SCORES
        ]
        if compared:
            if r.get("diff"):
                cells += [_diff_cell(r["diff"][m]) for m in COMPARED_SCORES]
            else:
                cells += ["–"] * len(COMPARED_SCORES)
            cells.append(r.get("verdict") or "–")
        cells += [f"{r['train_seconds'][0]:.0f}", f"{r['params'] / 1e6:.2f}", str(len(r["seeds"]))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def notes(rows: Sequence[dict[str, Any]]) -> str:
    """What the difference columns mean (empty without a reference cell)."""
    ref = next((r for r in rows if r.get("reference")), None)
    if ref is None:
        return ""
    conf = next((d.confidence for r in rows if r.get("diff") for d in r["diff"].values()), CONFIDENCE)
    return (
        f"Δ: difference to the reference cell ({combo_label(ref['combo'])}: the base config, or the first cell "
        f"when no cell is the base config), paired by seed, "
        f"in percentage points, with its {100 * conf:.0f} % Student-t interval (n - 1 degrees of freedom). "
        f"Verdict from the Rank-1 interval: better / worse when it excludes 0, no difference at this scale "
        f"when it holds 0 (a statement about these seeds and this training budget only); one seed gives no "
        f"interval."
    )


def report_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """``ablation.md``: the table, then what its difference columns mean."""
    return "\n\n".join(filter(None, [markdown_table(rows), notes(rows)]))


def plot(rows: Sequence[dict[str, Any]], out: Path) -> Path:
    """The forest plot of the paired differences to the reference cell, grouped by design question
    (:mod:`vireid.viz.forest`): a panel per compared score, one line per alternative with its
    label and interval, significant lines marked.  Rows without names (:func:`vireid.engine.ablation
    .summary.label_rows`) are named by their grid values."""
    from vireid.engine.ablation.summary import forest_groups, label_rows
    from vireid.viz.forest import forest_figure
    from vireid.viz.style import save_picture

    if rows and "label" not in rows[0]:
        rows = label_rows(rows)
    conf = next((d.confidence for r in rows if r.get("diff") for d in r["diff"].values()), CONFIDENCE)
    seeds = sorted({len(r["seeds"]) for r in rows})
    panels = [(f"Δ {_NAMES[m]}", forest_groups(rows, m)) for m in COMPARED_SCORES]
    n = "/".join(map(str, seeds))
    fig = forest_figure(
        panels,
        confidence=conf,
        title=f"Paired difference to the reference, {n} seed{'s' if seeds != [1] else ''} per line",
    )
    return save_picture(fig, out)
