"""The pictures a run folder gets when a command ends: ``cmc.png`` and ``curves.png``.

``vireid train`` (and the demo) write both into the run folder from its final ``metrics.json``
and its ``metrics.jsonl``; ``vireid test`` writes ``cmc.png`` next to its ``metrics.json``.  A
run's outcome does not depend on its pictures: :func:`write_run_pictures` reports a picture it
could not draw (matplotlib missing, say) and carries on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from vireid.utils.paths import say

CMC_FILE, CURVES_FILE = "cmc.png", "curves.png"


def write_run_pictures(
    folder: str | Path,
    *,
    metrics: Mapping[str, Any] | None = None,
    log_file: str | Path | None = None,
    name: str | None = None,
    log: Callable[[str], None] = say,
) -> dict[str, Path]:
    """Write ``folder/cmc.png`` (from ``metrics``, a ``metrics.json`` content) and
    ``folder/curves.png`` (from ``log_file``, a ``metrics.jsonl``); returns what was written."""
    folder = Path(folder)
    name = name or folder.name
    written: dict[str, Path] = {}
    jobs = []
    if metrics is not None:
        jobs.append(("cmc", CMC_FILE, lambda: _cmc(metrics, name)))
    if log_file is not None and Path(log_file).is_file():
        jobs.append(("curves", CURVES_FILE, lambda: _curves(log_file, name)))
    for key, file, make in jobs:
        try:
            from vireid.viz.style import save_picture

            written[key] = save_picture(make(), folder / file)
        except Exception as exc:  # a picture never fails the run (its metrics are written already)
            log(f"{file} not written: {exc}")
    return written


def _cmc(metrics: Mapping[str, Any], name: str):
    from vireid.viz.cmc import cmc_figure, metrics_panel

    return cmc_figure([metrics_panel(metrics, title=f"CMC: {name}, protocol {metrics.get('protocol', 'plain')}")])


def _curves(log_file: str | Path, name: str):
    from vireid.viz.curves import Series, curves_figure, read_log

    return curves_figure([Series(name, (tuple(read_log(log_file)),))])
