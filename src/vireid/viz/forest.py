"""Forest plot of an ablation: each alternative's paired difference to the reference, grouped by question.

One line per alternative (its human label), a dot at the mean paired difference and a bar over
its confidence interval, the reference as the dashed zero line, the numbers written beside each
line.  A line whose interval excludes zero is *significant*: a filled dot and a ``*`` after its
label; the others are hollow.  Lines are grouped under their design question, whose header names
the reference value.  Several panels (e.g. Rank-1 and mAP) share the lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from vireid.errors import VireidError
from vireid.viz.style import COLUMN_WIDTH, GREY, PAGE_WIDTH, colour, context

SIGNIFICANT = "*"


@dataclass(frozen=True)
class Line:
    """One alternative: mean difference and interval (low/high None: one seed, no interval)."""

    label: str
    mean: float
    low: float | None
    high: float | None
    significant: bool | None


@dataclass(frozen=True)
class Group:
    title: str
    reference: str | None
    lines: tuple[Line, ...]

    def header(self) -> str:
        return self.title + (f" (vs {self.reference})" if self.reference else "")


#: characters of a question's header per line: it spans the first panel and its numbers (half a
#: page, or one column), and is wrapped so that it never runs into the next panel
HEADER_CHARS = 52


def _header_lines(g: Group) -> list[str]:
    import textwrap

    return textwrap.wrap(g.header(), HEADER_CHARS) or [""]


def _layout(groups: Sequence[Group]) -> tuple[list[tuple[float, Group]], list[tuple[float, Line]]]:
    """y of each group header (the middle of its lines of text) and each line, top to bottom (a
    header, then its lines)."""
    headers, lines, y = [], [], 0.0
    for g in groups:
        extra = len(_header_lines(g)) - 1
        headers.append((y - 0.5 * extra, g))
        y -= extra
        for ln in g.lines:
            y -= 1.0
            lines.append((y, ln))
        y -= 1.4
    return headers, lines


def forest_figure(
    panels: Sequence[tuple[str, Sequence[Group]]],
    *,
    unit: str = "pp",
    confidence: float = 0.95,
    title: str | None = None,
):
    """``panels``: (x-axis quantity, e.g. ``"Δ Rank-1"``, its groups); every panel must hold the
    same groups and lines (the first panel's labels name the rows)."""
    panels = [(name, list(groups)) for name, groups in panels]
    if not panels or not any(g.lines for g in panels[0][1]):
        raise VireidError("no paired differences to draw (one cell, or no reference cell)")
    shape = [[ln.label for ln in g.lines] for g in panels[0][1]]
    if any([[ln.label for ln in g.lines] for g in groups] != shape for _, groups in panels):
        raise VireidError("forest plot: every panel must hold the same lines")
    headers, lines = _layout(panels[0][1])
    n_rows = len(lines) + sum(len(_header_lines(g)) for _, g in headers)
    width = COLUMN_WIDTH if len(panels) == 1 else PAGE_WIDTH
    with context() as plt:
        from matplotlib.transforms import blended_transform_factory

        # per panel: the plot, then a column for its numbers (an axes of its own, so the layout
        # sizes both)
        fig, axes = plt.subplots(
            1,
            2 * len(panels),
            figsize=(width, 0.19 * n_rows + 0.9),
            sharey=True,
            squeeze=False,
            layout="constrained",
            gridspec_kw={"width_ratios": [1.0, 0.5 if len(panels) > 1 else 0.62] * len(panels), "wspace": 0.0},
        )
        ticks = [y for y, _ in headers] + [y for y, _ in lines]
        for k, (name, groups) in enumerate(panels):
            ax, numbers = axes[0, 2 * k], axes[0, 2 * k + 1]
            _, rows = _layout(groups)
            ax.axvline(0.0, color=GREY, linestyle="--", linewidth=0.9)
            for y, ln in rows:
                if ln.low is not None:
                    ax.plot([ln.low, ln.high], [y, y], color=colour(0), linewidth=1.2, solid_capstyle="butt")
                ax.plot(
                    [ln.mean],
                    [y],
                    linestyle="none",
                    marker="o",
                    markersize=4.5,
                    color=colour(0),
                    markerfacecolor=colour(0) if ln.significant else "white",
                )
                text = f"{ln.mean:+.1f}" + (f" [{ln.low:+.1f}, {ln.high:+.1f}]" if ln.low is not None else "")
                numbers.text(0.04, y, text, va="center", ha="left", fontsize=6.5)
            numbers.axis("off")
            numbers.set_xlim(0, 1)
            ax.set_xlabel(f"{name} ({unit})\n{100 * confidence:.0f} % interval")
            ax.grid(axis="y", visible=False)
            ax.margins(x=0.08)
            ax.tick_params(axis="y", length=0)
        first = axes[0, 0]
        first.set_yticks(ticks)
        first.set_yticklabels(
            [""] * len(headers) + [ln.label + (f" {SIGNIFICANT}" if ln.significant else "") for _, ln in lines]
        )
        first.set_ylim(min(ticks) - 0.8, 0.8)
        # each question's header at the figure's left edge, above its lines: a figure text, drawn
        # over the axes, and outside the layout (its row holds nothing else)
        where = blended_transform_factory(fig.transFigure, first.transData)
        for y, g in headers:
            text = "\n".join(_header_lines(g))
            header = fig.text(0.005, y, text, transform=where, ha="left", va="center", fontweight="bold")
            header.set_in_layout(False)
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], color=GREY, linestyle="--", label="reference: difference 0"),
            Line2D(
                [],
                [],
                color=colour(0),
                marker="o",
                markerfacecolor=colour(0),
                label=f"interval excludes 0 ({SIGNIFICANT})",
            ),
            Line2D([], [], color=colour(0), marker="o", markerfacecolor="white", label="interval holds 0"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=3)
        if title:
            fig.suptitle(title)
    return fig
