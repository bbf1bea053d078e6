"""``vireid report``: runs -> the table, curves and figures a VI-ReID paper prints.

:func:`build_report` reads the runs (:mod:`vireid.report.runs`), refuses runs that are not
comparable and forms the rows (:mod:`vireid.report.group`), lays the table out as the papers do
for the dataset (:mod:`vireid.report.settings`), adds published rows on request
(:mod:`vireid.report.published`) and writes into ``OUT``:

* ``report.md``: what was compared and how, the table, its notes, the published sources and
  the pictures;
* ``table.tex``: the same table for LaTeX (booktabs);
* ``results.json``: every number, per row and setting: each run's value (equal to its
  ``metrics.json``), the mean and sample std, the runs' files;
* ``cmc.<fmt>``, ``curves.<fmt>`` and, with two rows or more, ``comparison.<fmt>``, in each of
  ``formats`` (pdf, svg, png; none: no pictures).

Every file is written atomically and marked as vireid's (:mod:`vireid.utils.marks`), under the
output policy (:mod:`vireid.utils.outputs`), checked before any work: ``OUT`` may be new, or hold
an earlier report, whose files are replaced (its pictures in formats not drawn again are removed:
the pictures its ``results.json`` lists, nothing else); a file of one of these names that vireid
did not write is replaced only with ``--overwrite``, a vireid file of another kind never, and
``OUT`` is never a run's own folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from vireid.errors import OutputError, VireidError
from vireid.report.group import DEFAULT_GROUP_BY, SYNTH_JSON, Row, group_runs, short_labels
from vireid.report.runs import RunRecord, flatten, load_run
from vireid.report.settings import dataset_title
from vireid.report.tables import Table, build_table, latex, markdown, markdown_escape, notes
from vireid.utils.jsonio import json_loads
from vireid.utils.kinds import PICTURE, REPORT_FOLDER, REPORT_MARKDOWN, REPORT_RESULTS, REPORT_TABLE, Kind
from vireid.utils.paths import say, shown
from vireid.viz.style import FORMATS

MADE_BY = "vireid report"
PICTURES = ("cmc", "curves", "comparison")
FILES = {"results.json": REPORT_RESULTS, "table.tex": REPORT_TABLE, "report.md": REPORT_MARKDOWN}


@dataclass
class ReportResult:
    rows: list[Row]
    table: Table
    written: dict[str, Path] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def planned_files(out: Path, formats: Sequence[str]) -> list[tuple[Path, Kind]]:
    """The files a report may write into ``out``, with their kinds (:mod:`vireid.utils.outputs`)."""
    return [(out / name, kind) for name, kind in FILES.items()] + [
        (out / f"{p}.{f}", PICTURE) for p in PICTURES for f in formats
    ]


def earlier_pictures(out: Path) -> list[str]:
    """The pictures an earlier report drew in ``out``: those its ``results.json`` lists that are
    still vireid's pictures (a file the user put there since is not one)."""
    from vireid.utils.marks import written_kind

    if written_kind(out / "results.json") != REPORT_RESULTS.id:
        return []
    try:
        data = json_loads((out / "results.json").read_bytes(), str(out / "results.json"))
    except (OSError, ValueError):  # JSONError is a ValueError: no earlier pictures known
        return []
    names = {f"{p}.{f}" for p in PICTURES for f in FORMATS}
    listed = data.get("files", {}) if isinstance(data, dict) else {}
    return [n for n in listed if n in names and written_kind(out / n) == PICTURE.id]


def check_report_folder(out: Path, runs: Sequence[Path], formats: Sequence[str]) -> None:
    """Refuse (one line, before any work) an ``out`` the output policy forbids, one that is a run's
    own folder (the report's pictures would replace the run's), or one holding a file the report
    would replace that vireid did not write as that kind."""
    from vireid.utils import outputs
    from vireid.utils.paths import same_path

    inputs = {"run": runs}
    outputs.check_folder(out, REPORT_FOLDER, inputs=inputs)
    for run in runs:
        folder = run.parent if run.is_file() else run
        if same_path(out, folder):
            raise OutputError(
                f"{out}: --out is also the run folder {folder}; a report goes into a folder of its own "
                f"(e.g. {folder / 'report'})"
            )
    outputs.check_files(planned_files(out, formats), inputs=inputs)


def is_synthetic(shared: dict) -> bool:
    """Whether the runs' data is synthetic (a config's ``data.synth`` or a ``vireid synth`` folder)."""
    return any(k.startswith(("data.synth.", SYNTH_JSON)) or (k == "data.synth" and v) for k, v in shared.items())


def _what_n_counts(rows: Sequence[Row], pooled: Sequence[str]) -> str:
    varying = [
        k for k in pooled if any(len({json.dumps(flatten(r.config).get(k)) for r in row.runs}) > 1 for row in rows)
    ]
    if varying == ["train.seed"]:
        return "runs (seeds)"
    if varying == ["data.trial"]:
        return "runs (RegDB trials: train/test splits)"
    return f"runs (differing in {', '.join(varying)})" if varying else "runs"


def build_report(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    targets: str | None = None,
    formats: Sequence[str] = ("png", "pdf"),
    labels: Sequence[str] | None = None,
    columns: str = "paper",
    log: Callable[[str], None] = say,
) -> ReportResult:
    """Write the report of ``paths`` into ``out`` (module docstring)."""
    from vireid.report.published import targets_for
    from vireid.utils.io import atomic_write_json, atomic_write_text
    from vireid.utils.marks import text_header

    if not paths:
        raise VireidError("give one run folder or more")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise VireidError(f"--format: {', '.join(bad)}; expected some of {', '.join(FORMATS)}")
    out = Path(out)
    check_report_folder(out, [Path(p) for p in paths], formats)
    runs = [load_run(p) for p in paths]
    rows, shared = group_runs(runs, group_by, columns)
    if labels is not None and any(not str(x).strip() for x in labels):
        raise VireidError("--labels: a row name is empty")
    if labels is not None and len(labels) != len(rows):
        raise VireidError(f"--labels: {len(labels)} given for {len(rows)} rows ({', '.join(r.label for r in rows)})")
    # a row name is printed, written in tables and drawn: control characters escaped (``\x1b``, a newline)
    names = [shown(x) for x in labels] if labels is not None else short_labels(rows)
    settings = sorted({c.setting for r in rows for c in r.cells.values()}, key=lambda s: (s.order, s.key))
    protocol = shared["protocol"]
    title = dataset_title(protocol) + (" (synthetic)" if is_synthetic(shared) else "")
    published = targets_for(protocol, targets) if targets else None
    table = build_table(title, settings, rows, names, published, _what_n_counts(rows, shared["group_by"]))
    stale = earlier_pictures(out)
    result = ReportResult(rows, table)

    def results(complete: bool) -> dict:
        return {
            "made_by": MADE_BY,
            "complete": complete,
            "title": title,
            "comparable_on": {k: v for k, v in shared.items() if k != "group_by"},
            "group_by": shared["group_by"],
            "settings": [{"key": s.key, "title": s.title, "direction": s.direction, "note": s.note} for s in settings],
            "rows": [_row_json(r, n) for r, n in zip(rows, names, strict=True)]
            + [_published_json(m, by) for m, by in (published or {}).items()],
            "files": {k: str(v) for k, v in result.written.items()},
            "skipped": result.skipped,
        }

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", results(False), kind=REPORT_RESULTS)  # the folder is a report's first
    if formats:
        _pictures(result, out, settings, rows, names, published, title, formats, log)
    tex = text_header(REPORT_TABLE, "%") + latex(table, label=f"tab:vireid-{protocol}")
    atomic_write_text(out / "table.tex", tex, kind=REPORT_TABLE)
    result.written["table.tex"] = out / "table.tex"
    md = text_header(REPORT_MARKDOWN, "<!--") + report_markdown(result, runs, shared, published, formats)
    atomic_write_text(out / "report.md", md, kind=REPORT_MARKDOWN)
    result.written["report.md"] = out / "report.md"
    atomic_write_json(out / "results.json", results(True), kind=REPORT_RESULTS)
    result.written["results.json"] = out / "results.json"
    for name in set(stale) - set(result.written):  # an earlier report's pictures this one did not draw
        (out / name).unlink(missing_ok=True)
    return result


def _pictures(result, out, settings, rows, names, published, title, formats, log) -> None:
    from vireid.report import pictures
    from vireid.viz.style import save_all

    def draw(name: str, make) -> None:
        try:
            fig = make()
            if fig is None:
                return
            for p in save_all(fig, [out / f"{name}.{f}" for f in formats]):
                result.written[p.name] = p
        except OutputError:
            raise  # the disk, not the data: the report fails as a whole
        except VireidError as exc:
            result.skipped.append(f"{name}: {exc}")
            log(f"{name} not drawn: {exc}")

    def cmc():
        from vireid.viz.cmc import cmc_figure

        return cmc_figure(pictures.cmc_panels(settings, rows, names, published, title))

    def curves():
        from vireid.viz.curves import curves_figure

        series = pictures.curve_series(rows, names)
        if not series:
            raise VireidError("no run has a metrics.jsonl (training log)")
        return curves_figure(series)

    def comparison():
        from vireid.viz.compare import comparison_figure

        if len(result.table.lines) < 2:
            return None
        return comparison_figure(pictures.comparison_panels(settings, rows, names, published, title))

    draw("cmc", cmc)
    draw("curves", curves)
    draw("comparison", comparison)


def _row_json(row: Row, label: str) -> dict:
    return {
        "label": label,
        "kind": "runs",
        "runs": [r.name for r in row.runs],
        "differs": row.differs,
        "settings": {
            k: {
                "title": c.setting.title,
                "direction": c.setting.direction,
                "n": c.n,
                "runs": [str(r.metrics_file) for r in c.runs],
                "values": {m: list(v) for m, v in c.values.items()},
                "mean": c.mean,
                "std": c.std,
            }
            for k, c in row.cells.items()
        },
    }


def _published_json(method: str, by_setting: dict) -> dict:
    return {
        "label": f"{method} (published)",
        "kind": "published",
        "settings": {k: {"percent": p.scores, "source": p.source} for k, p in by_setting.items()},
    }


def report_markdown(result: ReportResult, runs: Sequence[RunRecord], shared: dict, published, formats) -> str:
    table = result.table
    lines = [f"# {table.title}: {len(runs)} run{'s' if len(runs) > 1 else ''}", ""]
    comparable = ", ".join(
        f"{k} = {json.dumps(v) if not isinstance(v, str) else v}" for k, v in shared.items() if k != "group_by"
    )
    lines += [
        f"Every run is scored on the same data by the same rules: {comparable}.",
        "",
        f"Rows pool the runs that differ only in {', '.join(shared['group_by']) or 'nothing'} (`--group-by`).",
        "",
    ]
    for row, line in zip(result.rows, [ln for ln in table.lines if not ln.published], strict=True):
        differs = ", ".join(f"{k}={json.dumps(v)}" for k, v in row.differs.items())
        runs_text = ", ".join(f"`{r.name}`" for r in row.runs)
        lines.append(f"- **{markdown_escape(line.label)}**: {runs_text}" + (f" ({differs})" if differs else ""))
    lines += ["", "## Table", "", markdown(table), ""]
    for n in notes(table):  # each its own paragraph
        lines += [n, ""]
    if published:
        sources = sorted({p.source for by in published.values() for p in by.values()})
        lines += ["Published rows, from:", ""] + [f"- {s}" for s in sources]
        if is_synthetic(shared):
            lines += [
                "",
                "The runs are on synthetic data; the published numbers are on the real dataset.",
            ]
    pictures = [n for n in PICTURES if any(f"{n}.{f}" in result.written for f in formats)]
    if pictures:
        lines += ["", "## Pictures", ""]
        for n in pictures:
            shown = f"{n}.png" if f"{n}.png" in result.written else f"{n}.{formats[0]}"  # Markdown shows PNG
            others = [f"[{n}.{f}]({n}.{f})" for f in formats if f"{n}.{f}" != shown]
            lines += [f"![{n}]({shown})" + (f" ({', '.join(others)})" if others else ""), ""]
    if not formats:
        lines += ["", "No pictures (`--format` none)."]
    for s in result.skipped:
        lines += [f"Not drawn: {s}."]
    return "\n".join(lines).rstrip() + "\n"
