"""The paper's column layout per dataset: which settings a VI-ReID table prints, and from where.

A *setting* is one group of columns (Rank-1, Rank-10, Rank-20, mAP, mINP) of a paper's table:

* SYSU-MM01: all-search and indoor-search (single-shot; multi-shot when a run used it), each
  infrared -> visible, each its own run (``data.mode``);
* RegDB: visible -> thermal and thermal -> visible, both from every run (one trial per run);
* LLCM: IR -> VIS and VIS -> IR, both from every run;
* any other protocol: each direction ``metrics.json`` reports.

``columns="paper"`` (the default) fills each column from the direction ``metrics.json`` names for
it in ``paper_columns`` -- the paper's computation where the authors' ``test.py`` differs from the
protocol's own directions (RegDB: DEEN's ``test.py`` embeds each side through the other
modality's stem; LLCM VIS -> IR: it scores the transposed distances); a run that records none
(``metrics.json`` of an earlier vireid) fills it from the protocol's own direction.
``columns="ours"`` fills every column from the protocol's own direction (each image through its
own stem, the split as sampled).  Where the two differ, the column carries the protocol's
description of the direction it shows (:attr:`vireid.evaluation.protocols.EvalProtocol.titles`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from vireid.errors import VireidError

#: the columns of each setting, in the papers' order, and their headers
SCORES: tuple[tuple[str, str], ...] = (
    ("rank1", "R1"),
    ("rank10", "R10"),
    ("rank20", "R20"),
    ("mAP", "mAP"),
    ("mINP", "mINP"),
)
DATASET_NAMES = {"sysu": "SYSU-MM01", "regdb": "RegDB", "llcm": "LLCM"}
COLUMNS = ("paper", "ours")


@dataclass(frozen=True)
class Setting:
    """One column group: ``key`` (also the published data's ``setting``), its title, the
    ``metrics.json`` direction holding its numbers, its rank among the dataset's settings and a
    note (None where the column has one computation only)."""

    key: str
    title: str
    direction: str
    order: int
    note: str | None = None


def _sysu(cfg: Mapping[str, Any]) -> list[Setting]:
    data = cfg.get("data", {})
    mode, shot = data.get("mode", "all"), data.get("shot", "single")
    title = f"{str(mode).capitalize()}-search" + (", multi-shot" if shot == "multi" else "")
    order = (0 if mode == "all" else 1) + (2 if shot == "multi" else 0)
    return [Setting(f"{mode}-{shot}", title, "infrared_to_visible", order)]


#: the published columns of the datasets with two directions: column -> (title, order)
_FIXED: dict[str, dict[str, tuple[str, int]]] = {
    "regdb": {"visible_to_infrared": ("Visible → Thermal", 0), "infrared_to_visible": ("Thermal → Visible", 1)},
    "llcm": {"infrared_to_visible": ("IR → VIS", 0), "visible_to_infrared": ("VIS → IR", 1)},
}


def run_settings(metrics: Mapping[str, Any], cfg: Mapping[str, Any], columns: str = "paper") -> list[Setting]:
    """The settings a run's ``metrics.json`` fills (see the module docstring)."""
    from vireid.evaluation.protocols import PROTOCOLS

    if columns not in COLUMNS:
        raise VireidError(f"--columns: {columns!r}; expected one of {', '.join(COLUMNS)}")
    protocol = metrics.get("protocol")
    directions = metrics.get("directions", {})
    if protocol == "sysu":
        return [s for s in _sysu(cfg) if s.direction in directions]
    if protocol in _FIXED:
        found = PROTOCOLS.find(protocol)
        rules = found.obj if found is not None else None
        paper = dict(rules.paper_columns) if rules is not None else {}
        recorded = metrics.get("paper_columns") if isinstance(metrics.get("paper_columns"), dict) else {}
        out = []
        for column, (title, order) in _FIXED[protocol].items():
            direction = recorded.get(column, column) if columns == "paper" else column
            if direction not in directions:
                continue
            two_ways = paper.get(column, column) != column  # the authors compute this column otherwise
            note = rules.title(direction) if two_ways and rules is not None else None
            out.append(Setting(column, title, direction, order, note))
        return out
    return [Setting(d, d.replace("_", " "), d, i) for i, d in enumerate(directions)]


def expected_directions(metrics: Mapping[str, Any], columns: str = "paper") -> list[str]:
    """The directions a table of ``metrics``' protocol takes its columns from (for messages)."""
    protocol = metrics.get("protocol")
    if protocol == "sysu":
        return ["infrared_to_visible"]
    if protocol in _FIXED:
        recorded = metrics.get("paper_columns") if isinstance(metrics.get("paper_columns"), dict) else {}
        return [recorded.get(c, c) if columns == "paper" else c for c in _FIXED[protocol]]
    return ["any"]


def dataset_title(protocol: str) -> str:
    return DATASET_NAMES.get(protocol, f"protocol {protocol}")
