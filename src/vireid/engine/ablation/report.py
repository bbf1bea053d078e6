"""Ablation results: per-run records, the table over seeds (mean +- std) and the picture."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from vireid.engine.ablation.grid import short_key

#: the scores the ablation table reports (a subset of :data:`vireid.evaluation.result.SCORE_NAMES`)
REPORTED_SCORES = ("rank1", "mAP", "mINP")


@dataclass(frozen=True)
class RunResult:
    combo: dict[str, str]
    seed: int
    metrics: dict[str, float]
    train_seconds: float
    params: int


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def summarize(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per combination: mean/std of each metric over seeds, train time, params."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        key = json.dumps(r.combo, sort_keys=True)
        row = rows.setdefault(key, {"combo": r.combo, "runs": []})
        row["runs"].append(r)
    out = []
    for row in rows.values():
        runs = row["runs"]
        entry: dict[str, Any] = {"combo": row["combo"], "seeds": [r.seed for r in runs]}
        for m in REPORTED_SCORES:
            entry[m] = mean_std([r.metrics[m] for r in runs])
        entry["train_seconds"] = mean_std([r.train_seconds for r in runs])
        entry["params"] = runs[0].params
        out.append(entry)
    return out


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    keys = sorted({k for r in rows for k in r["combo"]})
    head = "| " + " | ".join(keys + ["Rank-1 (%)", "mAP (%)", "mINP (%)", "train (s)", "params (M)", "seeds"]) + " |"
    lines = [head, "|" + "---|" * (len(keys) + 6)]
    for r in rows:
        cells = [str(r["combo"].get(k, "(base)")) for k in keys]
        spread = len(r["seeds"]) > 1  # a std needs two seeds at least
        cells += [f"{100 * r[m][0]:.1f} ± {100 * r[m][1]:.1f}" if spread else f"{100 * r[m][0]:.1f}"
                  for m in REPORTED_SCORES]
        cells += [f"{r['train_seconds'][0]:.0f}", f"{r['params'] / 1e6:.2f}", str(len(r["seeds"]))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], out: Path) -> Path:
    from vireid.viz._mpl import pyplot, save_figure

    plt = pyplot()
    labels = [", ".join(f"{short_key(k)}={v}" for k, v in r["combo"].items()) or "base" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows) + 2), 4))
    x = list(range(len(rows)))
    width = 0.4
    seeds = sorted({len(r["seeds"]) for r in rows})
    spread = min(seeds) > 1  # error bars only where every bar has two seeds or more
    for off, m, label, colour in ((-width / 2, "rank1", "Rank-1", "tab:blue"), (width / 2, "mAP", "mAP", "tab:orange")):
        ax.bar([i + off for i in x], [100 * r[m][0] for r in rows], width,
               yerr=[100 * r[m][1] for r in rows] if spread else None, label=label, color=colour, capsize=3)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=7)
    ax.set_xlabel("configuration (grid values)", fontsize=8)
    ax.set_ylabel("metric (%)")
    ax.legend()
    n = "/".join(map(str, seeds))
    ax.set_title(f"ablation: mean ± std over {n} seeds" if spread else
                 f"ablation: {'one seed, no error bars' if seeds == [1] else f'mean over {n} seeds'}", fontsize=9)
    return save_figure(fig, out)
