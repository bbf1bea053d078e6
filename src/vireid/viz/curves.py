"""Training curves from ``metrics.jsonl``: each loss term, Rank-1 and mAP per evaluation, the LR.

``metrics.jsonl`` (:mod:`vireid.engine.logging`) holds training windows (``step``, ``epoch`` as
a fraction, ``lr``, ``loss/<term>``) and evaluations (``step``, ``epoch``, ``eval/<metric>``).
One run is drawn as three stacked panels: the loss terms as the objective weighted them (log
scale when all are positive: the terms differ by orders of magnitude), the periodic evaluation's Rank-1 and mAP, and the
learning rate; several runs (``vireid report``) as the same panels with the total loss and
Rank-1 of each, a group of runs (seeds) as its mean with a band from its lowest to its highest
run.  ``vireid train`` writes ``curves.png`` when it ends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vireid.errors import JSONError, VireidError, format_location
from vireid.utils.jsonio import json_loads
from vireid.utils.paths import file_problem
from vireid.viz.style import COLUMN_WIDTH, colour, context, marker

X_LABEL = "epoch"
LOSS_LABEL = "loss (unitless)"
EVAL_LABEL = "score (%)"
LR_LABEL = "learning rate (per step)"
#: what the loss terms are called in a legend (``objective/terms.py`` names)
TERM_NAMES = {
    "total": "total (their sum)",
    "id": "identity (CE)",
    "tri": "triplet",
    "cpm": "CPM",
    "ort": "orthogonal (DEE)",
    "of": "SVDO O.F.",
    "ow": "SVDO O.W.",
    "nce": "InfoNCE",
}


@dataclass(frozen=True)
class Series:
    """One method's training log: one or several runs (seeds) of ``metrics.jsonl`` records."""

    label: str
    runs: tuple[tuple[Mapping[str, Any], ...], ...]


#: the strings :class:`vireid.engine.logging.MetricsLogger` writes for non-finite numbers
NON_FINITE = ("nan", "inf", "-inf")


def _is_number(v: Any) -> bool:
    """A JSON number a float holds (not a boolean, not an integer too large for a float)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _plotted(key: str) -> bool:
    """Whether ``key`` of a record is a number the curves draw (or place: ``step``, ``epoch``)."""
    return key in ("step", "epoch", "lr") or key.startswith(("loss/", "eval/"))


def _record_problem(rec: dict) -> str | None:
    """What is wrong with a parsed line of a training log, or None for a record (or its mark)."""
    if "vireid" in rec and "step" not in rec:
        return None  # the log's mark, its first line
    if "step" not in rec:
        return "a record without 'step' (a number)"
    for key, value in rec.items():
        if _plotted(key) and not _is_number(value) and (key == "step" or value not in NON_FINITE):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            return f"{key!r} is {shown}, expected a number"
    return None


def read_log(path: str | os.PathLike, *, max_bytes: int = 512 * 2**20) -> list[dict]:
    """The records of a ``metrics.jsonl``.

    A partial last line (no line end: a run killed mid-write) is skipped, and blank lines; any other line
    that is not a JSON record -- not JSON, not an object, a ``step``, ``epoch``, ``lr``,
    ``loss/<term>`` or ``eval/<metric>`` that is not a number (or ``"nan"``/``"inf"``, the
    logger's non-finite values) -- is a :class:`~vireid.errors.VireidError` naming ``file:line``.
    A file with neither a record nor vireid's mark is not a training log (one line saying so).
    """
    path = Path(path)
    problem = file_problem(path, "training log")
    if problem and problem.endswith("not found"):
        raise VireidError(f"{path}: not found (vireid train writes metrics.jsonl into the run folder)")
    if problem:  # a folder, a link to nothing, a pipe (a read would wait) or a device
        raise VireidError(f"{path}: {problem}")
    size = path.stat().st_size
    if size > max_bytes:
        raise VireidError(f"{path}: {size} bytes; a training log of more than {max_bytes} bytes is not read")
    records: list[dict] = []
    marked = False  # a record (even a bad one) or vireid's mark: the file is a training log
    bad_line: tuple[int, str] | None = None  # the first bad line
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json_loads(line, format_location(path, n))
            except JSONError as exc:
                if not line.endswith("\n"):
                    continue  # a partial last line: the run was killed while writing it
                bad_line = bad_line or (
                    n,
                    f"{exc.why}; a training log holds one JSON record per line (only a partial "
                    "last line, from a run killed mid-write, is skipped)",
                )
                continue
            if not isinstance(rec, dict):
                got = kinds.get(type(rec), "null")
                bad_line = bad_line or (n, f"{got}, not a record; a training log holds one JSON object per line")
                continue
            bad = _record_problem(rec)
            marked = marked or "step" in rec or "vireid" in rec
            if bad is not None:
                bad_line = bad_line or (n, bad)
            elif "step" in rec:
                records.append(rec)
    if not records and not marked:
        raise VireidError(f"{path}: holds no training records (is it a vireid metrics.jsonl?)")
    if bad_line is not None:
        n, why = bad_line
        raise VireidError(f"{format_location(path, n)}: {why}")
    if not records:
        raise VireidError(f"{path}: holds no training records (a run that stopped before its first log window?)")
    return records


def _xy(records: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [
        (float(r["epoch"]), float(r[key]))
        for r in records
        if _is_number(r.get(key))
        and _is_number(r.get("epoch"))
        and np.isfinite(float(r[key]))
        and np.isfinite(float(r["epoch"]))
    ]
    if not pts:
        return np.empty(0), np.empty(0)
    x, y = np.asarray(pts).T
    return x, y


def _keys(series: Sequence[Series], prefix: str) -> list[str]:
    """The keys starting with ``prefix`` that have a point to draw (a finite number at an epoch)."""
    seen: dict[str, None] = {}
    for s in series:
        for run in s.runs:
            for r in run:
                seen.update({k: None for k in r if k.startswith(prefix)})
    return [k for k in seen if any(len(_xy(run, k)[0]) for s in series for run in s.runs)]


def plottable(records: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a training log's records hold a curve to draw: a loss, an evaluation or the LR
    (a finite number) at an epoch."""
    series = [Series("log", (tuple(records),))]
    return bool(_keys(series, "loss/") or _keys(series, "eval/") or _keys(series, "lr"))


def _legend(ax, **kwargs) -> None:
    """A legend, when the panel has a labelled line (matplotlib warns of an empty one)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def _line(ax, s_runs, key: str, i: int, label: str, *, markers: bool = False, scale: float = 1.0) -> bool:
    """One line per series: the mean over its runs where they share the x values, with a min..max band."""
    xs = [_xy(run, key) for run in s_runs]
    xs = [(x, y * scale) for x, y in xs if len(x)]
    if not xs:
        return False
    sparse = min(len(x) for x, _ in xs) < 3  # a short run logs one or two windows: a line alone would not show
    style = dict(color=colour(i), marker=marker(i) if markers or sparse else None, label=label)
    if len(xs) > 1 and all(len(x) == len(xs[0][0]) and np.array_equal(x, xs[0][0]) for x, _ in xs):
        ys = np.stack([y for _, y in xs])
        ax.plot(xs[0][0], ys.mean(0), **style)
        if len(xs[0][0]) > 1:
            ax.fill_between(xs[0][0], ys.min(0), ys.max(0), color=colour(i), alpha=0.18, linewidth=0)
        else:  # one point per run: their range as an error bar
            mid = ys.mean(0)
            ax.errorbar(xs[0][0], mid, yerr=[mid - ys.min(0), ys.max(0) - mid], color=colour(i), linestyle="none")
    else:
        for n, (x, y) in enumerate(xs):
            ax.plot(x, y, **(style if n == 0 else dict(style, label=None)), alpha=1.0 if len(xs) == 1 else 0.6)
    return True


def _series_label(s: Series) -> str:
    n = len(s.runs)
    return s.label if n == 1 else f"{s.label} (mean of {n} runs; band: their range)"


def _log_if_positive(ax, lines) -> None:
    ys = np.concatenate([ln.get_ydata() for ln in lines]) if lines else np.empty(0)
    if len(ys) and np.all(ys > 0) and ys.max() / ys.min() > 20:
        ax.set_yscale("log")


def curves_figure(series: Sequence[Series], *, title: str | None = None, width: float = COLUMN_WIDTH):
    """Losses, evaluation scores and LR over epochs (see the module docstring)."""
    if not series or not any(run for s in series for run in s.runs):
        raise VireidError("no training records to draw")
    one = len(series) == 1
    evals = [k for k in ("eval/rank1", "eval/mAP") if k in _keys(series, "eval/")] or _keys(series, "eval/")[:2]
    has_lr = bool(_keys(series, "lr"))
    has_loss = bool(_keys(series, "loss/"))  # a run shorter than train.log_every logged no window
    panels = (["loss"] if has_loss else []) + (["eval"] if evals else []) + (["lr"] if has_lr else [])
    if not panels:
        raise VireidError("the training log holds no losses, evaluations or learning rates")
    with context() as plt:
        fig, axes = plt.subplots(
            len(panels), 1, figsize=(width, 1.7 * len(panels) + 0.5), sharex=True, squeeze=False, layout="constrained"
        )
        ax_of = dict(zip(panels, axes[:, 0], strict=True))
        if "loss" in ax_of:
            ax = ax_of["loss"]
            if one:
                terms = [k for k in _keys(series, "loss/")]
                terms = sorted(terms, key=lambda k: (k != "loss/total", k))
                for i, k in enumerate(terms):
                    name = k.split("/", 1)[1]
                    _line(ax, series[0].runs, k, i, TERM_NAMES.get(name, name))
                # the terms' legend above the panel: inside, it would hide a term's line
                _legend(ax, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, borderaxespad=0.2)
            else:
                for i, s in enumerate(series):
                    _line(ax, s.runs, "loss/total", i, _series_label(s))
                ax.set_title("total training loss")
            _log_if_positive(ax, ax.get_lines())
            log = ax.get_yscale() == "log"
            ax.set_ylabel(("weighted " if one else "total ") + LOSS_LABEL[:-1] + (", log scale)" if log else ")"))
        if "eval" in ax_of:
            ax = ax_of["eval"]
            if one:
                for i, k in enumerate(evals):
                    name = {"eval/rank1": "Rank-1", "eval/mAP": "mAP"}.get(k, k.split("/", 1)[1])
                    _line(ax, series[0].runs, k, i, name, markers=True, scale=100.0)
                ax.set_title("periodic evaluation (selects the best checkpoint)")
            else:
                key = evals[0]
                for i, s in enumerate(series):
                    _line(ax, s.runs, key, i, _series_label(s), markers=True, scale=100.0)
                ax.set_title(f"periodic evaluation: {'Rank-1' if key == 'eval/rank1' else key.split('/', 1)[1]}")
            ax.set_ylabel(EVAL_LABEL)
            if one:
                _legend(ax, loc="best")  # the scores may rise or fall: the corner with the fewest points
        if "lr" in ax_of:
            ax = ax_of["lr"]
            for i, s in enumerate(series if not one else series[:1]):
                _line(ax, s.runs, "lr", i, _series_label(s))
            _log_if_positive(ax, ax.get_lines())
            ax.set_ylabel(LR_LABEL + (", log scale" if ax.get_yscale() == "log" else ""))
            ax.set_title("learning rate (the largest of the parameter groups)")
        axes[-1, 0].set_xlabel(X_LABEL)
        if not one:  # one legend for every panel: a series has the same colour in each
            named: dict[str, object] = {}
            for ax in axes[:, 0]:
                for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
                    named.setdefault(n, h)
            if named:
                fig.legend(list(named.values()), list(named), loc="outside lower center", ncols=1)
        if title or one:
            fig.suptitle(title or f"{series[0].label}: training curves")
    return fig


def curves_picture(log: str | os.PathLike, out: str | os.PathLike, *, title: str | None = None) -> Path:
    """``vireid visualize curves``: the training curves of one ``metrics.jsonl``."""
    from vireid.utils.outputs import reading
    from vireid.viz.style import picture_out, save_picture

    with reading({"training log": log}):
        picture_out(out)  # before any work
    label = Path(log).resolve().parent.name or "run"
    records = read_log(log)
    if not plottable(records):
        raise VireidError(
            f"{log}: holds no curve to draw: no loss/<term>, eval/<metric> or lr with a finite value at an "
            "epoch (a run that stopped before its first log window?)"
        )
    return save_picture(curves_figure([Series(label, (tuple(records),))], title=title), out)
