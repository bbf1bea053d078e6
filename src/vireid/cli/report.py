"""``vireid report RUN [RUN ...] --out DIR``: runs -> the table, curves and figures of a paper.

    vireid report runs/demo --out runs/demo/report
    vireid report runs/regdb_* --out reports/regdb --targets paper
    vireid report runs/seed0 runs/seed1 runs/seed2 --out reports/seeds --format pdf png

A RUN is a training run folder (its ``metrics.json``), a ``vireid test`` folder (``RUN/test``)
or a metrics JSON file.  Runs that differ only in ``--group-by`` (default: the seed and RegDB's
trial) form one row: mean ± std over them, their count shown.  Runs scored on other data or by
other rules (dataset, protocol, flip, re-ranking, trials) are refused.  Writes ``report.md``,
``table.tex`` (booktabs), ``results.json`` and the CMC, training-curve and comparison pictures
(see :mod:`vireid.report.build`).
"""

from __future__ import annotations

import argparse

from vireid.cli._common import declare
from vireid.report.group import DEFAULT_GROUP_BY
from vireid.report.published import TARGETS
from vireid.report.settings import COLUMNS
from vireid.utils.kinds import REPORT_FOLDER
from vireid.viz.style import FORMATS


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report",
        help="turn runs into a paper's table (Markdown, LaTeX), CMC and training curves",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders, test folders or metrics JSON files")
    p.add_argument("--out", required=True, metavar="DIR", help="the report's folder")
    p.add_argument(
        "--group-by",
        nargs="+",
        default=list(DEFAULT_GROUP_BY),
        metavar="KEY",
        help="what the runs of one row differ in: seed, trial or dotted config keys (default: seed trial); "
        "none: every run its own row",
    )
    p.add_argument("--targets", choices=TARGETS, default=None, help="add the published rows (DEEN, AGW)")
    p.add_argument(
        "--format",
        nargs="+",
        choices=(*FORMATS, "none"),
        default=["png", "pdf"],
        dest="formats",
        help="picture formats (default: png pdf); none: no pictures",
    )
    p.add_argument(
        "--columns",
        choices=COLUMNS,
        default="paper",
        help="paper (default): each column as the authors' test.py computes it where the run records that "
        "(RegDB both directions, LLCM VIS->IR); ours: the protocol's own directions",
    )
    p.add_argument("--labels", nargs="+", default=None, metavar="NAME", help="row names, in the rows' order")
    declare(
        p,
        outputs={"out": REPORT_FOLDER},
        inputs={"runs": "run"},
        not_outputs=("targets",),
        example=("report", "{run}", "--out", "{out}", "--format", "png"),
    )
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.errors import VireidError
    from vireid.report import build_report

    formats = [f for f in args.formats if f != "none"]
    if "none" in args.formats and formats:
        raise VireidError(f"--format: none (no pictures) goes alone, not with {', '.join(formats)}")
    result = build_report(
        args.runs,
        args.out,
        group_by=args.group_by,
        targets=args.targets,
        formats=formats,
        labels=args.labels,
        columns=args.columns,
    )
    from vireid.report.tables import markdown
    from vireid.utils.paths import shown

    print(markdown(result.table))
    print(f"written to {shown(args.out)}: {', '.join(sorted(result.written))}")
    return 0
