"""Runs -> the tables, curves and figures a VI-ReID paper prints (``vireid report``).

:func:`build_report` is the entry point; see :mod:`vireid.report.build` for what it writes.
"""

from vireid.report.build import ReportResult, build_report
from vireid.report.group import DEFAULT_GROUP_BY, Row, group_runs
from vireid.report.runs import RunRecord, load_run

__all__ = ["DEFAULT_GROUP_BY", "ReportResult", "Row", "RunRecord", "build_report", "group_runs", "load_run"]
