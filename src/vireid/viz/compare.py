"""Methods side by side: Rank-1 and mAP of each row of a report, per setting (``vireid report``).

One panel per setting (e.g. SYSU-MM01 all-search, indoor-search), one line per method; Rank-1
and mAP as two markers with the row's standard deviation over its runs as error bars; published
values as hollow markers.  A dot plot, not bars: the scores of VI-ReID methods sit between 40 and
95 %, and bars from 0 would hide their differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vireid.errors import VireidError
from vireid.viz.style import COLUMN_WIDTH, colour, context, marker

X_LABEL = "score (%)"
#: the scores drawn, with their legend names
SCORES = (("rank1", "Rank-1"), ("mAP", "mAP"))


@dataclass(frozen=True)
class Entry:
    """One method in one setting: score -> (mean %, std % or None); ``published`` draws hollow markers."""

    label: str
    scores: dict[str, tuple[float, float | None]]
    published: bool = False


def comparison_figure(panels: Sequence[tuple[str, Sequence[Entry]]], *, title: str | None = None):
    """``panels``: (setting title, its entries top to bottom)."""
    panels = [(t, list(e)) for t, e in panels if e]
    if not panels:
        raise VireidError("nothing to compare")
    with context() as plt:
        heights = [0.28 * len(e) + 0.75 for _, e in panels]
        fig, axes = plt.subplots(
            len(panels),
            1,
            figsize=(COLUMN_WIDTH, sum(heights) + 0.3),
            squeeze=False,
            sharex=True,
            layout="constrained",
            gridspec_kw={"height_ratios": heights},
        )
        for ax, (setting, entries) in zip(axes[:, 0], panels, strict=True):
            y = np.arange(len(entries))[::-1]
            for j, (key, name) in enumerate(SCORES):
                offset = 0.12 * (1 - 2 * j)
                for pub in (False, True):
                    pts = [(yy, e) for yy, e in zip(y, entries, strict=True) if e.published == pub and key in e.scores]
                    if not pts:
                        continue
                    xs = [e.scores[key][0] for _, e in pts]
                    errs = [e.scores[key][1] or 0.0 for _, e in pts]
                    ax.errorbar(
                        xs,
                        [yy + offset for yy, _ in pts],
                        xerr=errs if any(errs) else None,
                        linestyle="none",
                        marker=marker(j),
                        color=colour(j),
                        markerfacecolor="white" if pub else colour(j),
                        label=f"{name}" + (" (published)" if pub else ""),
                    )
            ax.set_yticks(y)
            ax.set_yticklabels([e.label for e in entries])
            ax.set_ylim(-0.6, len(entries) - 0.4)
            ax.grid(axis="y", visible=False)
            ax.set_title(setting)
            ax.margins(x=0.08)
        spread = any(e.scores[k][1] for _, entries in panels for e in entries for k in e.scores)
        axes[-1, 0].set_xlabel(X_LABEL + (" (bars: ± std over a row's runs)" if spread else ""))
        handles, names = {}, []
        for ax in axes[:, 0]:
            for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
                if n not in handles:
                    handles[n] = h
                    names.append(n)
        fig.legend([handles[n] for n in names], names, loc="outside lower center", ncols=2)
        if title:
            fig.suptitle(title)
    return fig
