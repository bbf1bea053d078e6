"""Ablation: train and test every combination of a grid on the synthetic benchmark.

``vireid ablate --config BASE --grid key=v1,v2 key2=a,b --seeds 0 1 2 --out DIR`` runs the
Cartesian product of the grid (``--mode product``, default) or each axis on its own against
the base config (``--mode each``: one-factor-at-a-time, what a design-choice table needs),
each with several seeds, and writes into ``DIR``:

* ``runs/<combo>/seed<k>/``: the ordinary run folders (config, checkpoints, metrics);
* ``results.json``: every run's metrics, train time and parameter count;
* ``ablation.md``: a markdown table, mean ± std over seeds of Rank-1, mAP, mINP, plus
  train time and parameters; and, per cell, the difference to the *reference cell* (the base
  config; in ``each`` mode the base value of every axis) paired by seed, with its 95 % Student-t
  interval and a verdict: better / worse when the Rank-1 interval excludes 0, "no difference at
  this scale" when it holds 0 (:mod:`vireid.engine.ablation.stats`);
* ``summary.json``: the rows of that table with their names (:mod:`vireid.engine.ablation.summary`),
  the one file the picture and any table of the ablation are drawn from;
* ``ablation.png``: a forest plot ([viz] extra): per design question (grid axis), one line per
  alternative with its paired difference to the reference and its 95 % interval, the reference
  as the zero line, significant lines marked (:mod:`vireid.viz.forest`).

Grid values are parsed as YAML; commas inside brackets do not split (``k=[1,2],[3,4]``).
Keys joined by ``+`` form one *linked* axis whose values are YAML lists, one item per key:
``data.height+data.width=[64,32],[96,48]`` varies the input size as one factor.  The report's
names are declared in the grid: ``VALUE:LABEL`` names a value, ``KEY:TITLE=`` an axis
(:mod:`vireid.engine.ablation.grid`).
"""

from vireid.engine.ablation.grid import (
    GridLabels,
    combinations,
    overrides,
    parse_grid,
    slug,
    split_grid,
    split_label,
    split_values,
)
from vireid.engine.ablation.report import (
    REPORTED_SCORES,
    RunResult,
    combo_label,
    markdown_table,
    mean_std,
    notes,
    plot,
    report_markdown,
    summarize,
)
from vireid.engine.ablation.runner import reference_combos, run_ablation
from vireid.engine.ablation.stats import PairedDiff, paired_difference, t_quantile, verdict
from vireid.engine.ablation.summary import forest_groups, label_rows, load_summary, write_summary

__all__ = [
    "GridLabels",
    "PairedDiff",
    "REPORTED_SCORES",
    "RunResult",
    "combinations",
    "combo_label",
    "forest_groups",
    "label_rows",
    "load_summary",
    "markdown_table",
    "mean_std",
    "notes",
    "overrides",
    "paired_difference",
    "parse_grid",
    "plot",
    "reference_combos",
    "report_markdown",
    "run_ablation",
    "slug",
    "split_grid",
    "split_label",
    "split_values",
    "summarize",
    "t_quantile",
    "verdict",
    "write_summary",
]
