"""The report's pictures: CMC curves, training curves and the comparison of its rows.

Each is drawn by :mod:`vireid.viz` in the shared style from the rows :mod:`vireid.report.group`
formed: a row's CMC is the mean of its runs' mean CMC curves (a band of ± one standard deviation
over its runs), its training curves the mean of its runs' logs; published rows add their
Rank-1/10/20 as hollow markers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vireid.report.group import Row
from vireid.report.published import Published
from vireid.report.settings import Setting


def cmc_panels(
    settings: Sequence[Setting],
    rows: Sequence[Row],
    labels: Sequence[str],
    published: dict[str, dict[str, Published]] | None,
    dataset: str,
):
    from vireid.viz.cmc import Curve, Panel

    panels = []
    for s in settings:
        curves = []
        for i, (row, label) in enumerate(zip(rows, labels, strict=True)):
            cell = row.cells.get(s.key)
            if cell is None:
                continue
            if all(len(c) for c in cell.cmc) and len({len(c) for c in cell.cmc}) == 1:
                arr = np.asarray(cell.cmc, dtype=np.float64)
                ranks = tuple(range(1, arr.shape[1] + 1))
                text = label
            else:  # metrics.json of an older vireid: Rank-1/5/10/20 only
                ranks = (1, 5, 10, 20)
                arr = np.asarray(
                    [[r.metrics["directions"][s.direction]["mean"][f"rank{k}"] for k in ranks] for r in cell.runs]
                )
                text = f"{label} (ranks 1, 5, 10, 20 only)"
            std = tuple(arr.std(0, ddof=1)) if len(arr) > 1 else None
            n = f" (n = {len(arr)})" if len(arr) > 1 else ""
            curves.append(Curve(f"{text}{n}", ranks, tuple(arr.mean(0)), std, style=i))
        for j, (method, by_setting) in enumerate((published or {}).items()):
            p = by_setting.get(s.key)
            ranks = tuple(k for k in (1, 10, 20) if p is not None and f"rank{k}" in p.scores)
            if ranks:
                values = tuple(p.scores[f"rank{k}"] / 100 for k in ranks)
                curves.append(Curve(f"{method} (published)", ranks, values, published=True, style=j))
        if curves:
            panels.append(Panel(f"{dataset}, {s.title}", tuple(curves)))
    return panels


def curve_series(rows: Sequence[Row], labels: Sequence[str]):
    from vireid.viz.curves import Series, read_log

    series = []
    for row, label in zip(rows, labels, strict=True):
        logs = [r.log_file for r in row.runs if r.log_file is not None]
        if logs:
            series.append(Series(label, tuple(tuple(read_log(p)) for p in logs)))
    return series


def comparison_panels(
    settings: Sequence[Setting],
    rows: Sequence[Row],
    labels: Sequence[str],
    published: dict[str, dict[str, Published]] | None,
    dataset: str,
):
    from vireid.viz.compare import SCORES, Entry

    panels = []
    for s in settings:
        entries = []
        for method, by_setting in (published or {}).items():
            p = by_setting.get(s.key)
            if p is not None and any(k in p.scores for k, _ in SCORES):
                entries.append(
                    Entry(f"{method} (published)", {k: (p.scores[k], None) for k, _ in SCORES if k in p.scores}, True)
                )
        for row, label in zip(rows, labels, strict=True):
            cell = row.cells.get(s.key)
            if cell is not None:
                entries.append(
                    Entry(
                        label if cell.n == 1 else f"{label} (n = {cell.n})",
                        {k: (100 * cell.mean[k], 100 * cell.std[k] if cell.n > 1 else None) for k, _ in SCORES},
                    )
                )
        panels.append((f"{dataset}, {s.title}", entries))
    return panels
