"""CMC curves: the matching rate at rank k, k = 1..20, the most common re-ID plot.

A run's ``metrics.json`` holds, per search direction, the mean CMC over the protocol's trials
(``"cmc"``, Rank-1..Rank-20; :func:`vireid.evaluation.aggregate`).  Files written before vireid
recorded it hold Rank-1/5/10/20 only; their curve is drawn through those four points, and the
legend says so.  ``vireid train`` and ``vireid test`` write ``cmc.png`` (one line per direction),
``vireid visualize cmc`` draws one from files, and ``vireid report`` one panel per setting with a
line per method (published values as hollow markers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vireid.errors import VireidError
from vireid.viz.style import COLUMN_WIDTH, GREY, colour, context, marker

X_LABEL = "rank k"
Y_LABEL = "matching rate at rank k (%)"


@dataclass(frozen=True)
class Curve:
    """One line: values (fractions) at ``ranks``; ``std`` draws a band; ``published`` hollow markers only."""

    label: str
    ranks: tuple[int, ...]
    values: tuple[float, ...]
    std: tuple[float, ...] | None = None
    published: bool = False
    style: int | None = None  # its colour and marker (a method keeps them in every panel); None: its position


@dataclass(frozen=True)
class Panel:
    title: str
    curves: tuple[Curve, ...]


def direction_curve(direction: Mapping[str, Any], label: str) -> Curve:
    """The mean CMC of one direction of a ``metrics.json``: its ``cmc`` list, else Rank-1/5/10/20."""
    from vireid.evaluation.result import RANKS

    cmc = direction.get("cmc")
    if isinstance(cmc, list) and cmc:
        return Curve(label, tuple(range(1, len(cmc) + 1)), tuple(float(v) for v in cmc))
    mean = direction.get("mean") or {}
    ranks = tuple(k for k in RANKS if f"rank{k}" in mean)
    if not ranks:
        raise VireidError(f"{label}: no CMC values (neither 'cmc' nor rank1..rank20)")
    return Curve(
        f"{label} (ranks {', '.join(map(str, ranks))} only)", ranks, tuple(float(mean[f"rank{k}"]) for k in ranks)
    )


def direction_label(direction: str) -> str:
    """``infrared_to_visible`` -> ``infrared to visible``; LLCM's published orientation named as such."""
    from vireid.evaluation.protocols import PAPER_DIRECTION

    if direction == PAPER_DIRECTION:
        return "visible to infrared, as published"
    return direction.replace("_", " ")


def metrics_panel(metrics: Mapping[str, Any], title: str | None = None) -> Panel:
    """One panel, one curve per reported direction of a ``metrics.json`` (LLCM's published
    visible -> infrared orientation included, named as such)."""
    directions = metrics.get("directions")
    if not isinstance(directions, dict) or not directions:
        raise VireidError("metrics: no 'directions' (is it a vireid metrics.json?)")
    curves = []
    for name, d in directions.items():
        label = direction_label(name)
        n = d.get("num_trials")
        curves.append(direction_curve(d, f"{label}" + (f", {n} trials" if n and n > 1 else "")))
    protocol = metrics.get("protocol", "")
    return Panel(title or f"CMC, protocol {protocol}".strip(", "), tuple(curves))


def cmc_figure(panels: Sequence[Panel], *, title: str | None = None, width: float = COLUMN_WIDTH):
    """Stacked panels (one per setting), rank k on x, the matching rate in % on y."""
    if not panels:
        raise VireidError("no CMC curves to draw")
    with context() as plt:
        fig, axes = plt.subplots(
            len(panels), 1, figsize=(width, 2.3 * len(panels) + 0.2), squeeze=False, layout="constrained"
        )
        for ax, panel in zip(axes[:, 0], panels, strict=True):
            _draw(ax, panel)
        if title:
            fig.suptitle(title)
    return fig


def _draw(ax, panel: Panel) -> None:
    top = 1
    for n, c in enumerate([c for c in panel.curves if not c.published]):
        i = n if c.style is None else c.style
        x, y = np.asarray(c.ranks), 100 * np.asarray(c.values)
        # markers at the ranks papers quote (1, 5, 10, 15, 20): the curves stay apart in grey print
        every = [j for j, k in enumerate(x) if k in (1, 5, 10, 15, 20) or len(x) <= 5]
        ax.plot(x, y, color=colour(i), marker=marker(i), markevery=every, label=c.label)
        if c.std is not None and any(c.std):
            s = 100 * np.asarray(c.std)
            ax.fill_between(x, y - s, y + s, color=colour(i), alpha=0.18, linewidth=0)
        top = max(top, int(x.max()))
    for n, c in enumerate([c for c in panel.curves if c.published]):
        j = n if c.style is None else c.style
        ax.plot(
            c.ranks,
            100 * np.asarray(c.values),
            linestyle="none",
            marker=marker(j + 3),
            markerfacecolor="white",
            markeredgecolor=GREY if j == 0 else colour(j + 3),
            markersize=5,
            label=c.label,
        )
        top = max(top, max(c.ranks))
    ax.set_xlim(0.5, top + 0.5)
    ax.set_xticks([k for k in (1, 5, 10, 15, 20, 25, 30, 40, 50) if k <= top])
    ax.set_ylim(top=100)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    ax.set_title(panel.title)
    ax.legend(loc="lower right")


def read_metrics_json(path: str | os.PathLike) -> dict:
    """A ``metrics.json`` (from ``vireid train`` or ``test``), refused with one line if it is not one."""
    from vireid.evaluation.summary_file import read_metrics_json as read

    return read(path)


def cmc_picture(metrics: str | os.PathLike, out: str | os.PathLike, *, title: str | None = None) -> Path:
    """``vireid visualize cmc``: the CMC curves of a ``metrics.json`` (one line per direction)."""
    from vireid.utils.outputs import reading
    from vireid.viz.style import picture_out, save_picture

    with reading({"metrics file": metrics}):
        picture_out(out)  # before any work
    panel = metrics_panel(read_metrics_json(metrics), title=title or f"CMC: {Path(metrics).parent.name or 'run'}")
    return save_picture(cmc_figure([panel]), out)
