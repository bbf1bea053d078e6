"""The paper's column layout per dataset: which settings a VI-ReID table prints, and from where.

A *setting* is one group of columns (Rank-1, Rank-10, Rank-20, mAP, mINP) of a paper's table:

* SYSU-MM01: all-search and indoor-search (single-shot; multi-shot when a run used it), each
  infrared -> visible, each its own run (``data.mode``);
* RegDB: visible -> thermal and thermal -> visible, both from every run (one trial per run);
* LLCM: IR -> VIS and VIS -> IR, both from every run; VIS -> IR is the published orientation
  (``paper_columns`` of ``metrics.json``: the authors' ``test.py`` scores the transposed
  distances), marked as such;
* any other protocol: each direction ``metrics.json`` reports.

Each setting says which direction of ``metrics.json`` holds its numbers, and a note where our
column is not computed as the authors computed theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

#: the columns of each setting, in the papers' order, and their headers
SCORES: tuple[tuple[str, str], ...] = (
    ("rank1", "R1"),
    ("rank10", "R10"),
    ("rank20", "R20"),
    ("mAP", "mAP"),
    ("mINP", "mINP"),
)
DATASET_NAMES = {"sysu": "SYSU-MM01", "regdb": "RegDB", "llcm": "LLCM"}
AS_PUBLISHED = (
    "as published: the authors' test.py scores the transposed distance matrix (each trial's sampled "
    "infrared images are the queries, every visible image the gallery); vireid's visible_to_infrared_paper"
)
REGDB_T2V = (
    "ours: each image embedded with its own modality's stem; the authors' test.py embeds the thermal "
    "queries with the visible stem, so this column is not their computation"
)


@dataclass(frozen=True)
class Setting:
    """One column group: ``key`` (also the published data's ``setting``), its title, the
    ``metrics.json`` direction holding its numbers, its rank among the dataset's settings and a
    note (None when it is computed as the authors computed it)."""

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


_FIXED: dict[str, dict[str, tuple[str, int, str | None]]] = {
    # published column -> (title, order, note)
    "regdb": {
        "visible_to_infrared": ("Visible → Thermal", 0, None),
        "infrared_to_visible": ("Thermal → Visible", 1, REGDB_T2V),
    },
    "llcm": {
        "infrared_to_visible": ("IR → VIS", 0, None),
        "visible_to_infrared": ("VIS → IR", 1, None),
    },
}


def run_settings(metrics: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[Setting]:
    """The settings a run's ``metrics.json`` fills (see the module docstring)."""
    from vireid.evaluation.protocols import PAPER_DIRECTION, REGISTRY

    protocol = metrics.get("protocol")
    directions = metrics.get("directions", {})
    if protocol == "sysu":
        return [s for s in _sysu(cfg) if s.direction in directions]
    if protocol in _FIXED:
        columns = metrics.get("paper_columns") or dict(REGISTRY[protocol].paper_columns)
        out = []
        for column, (title, order, note) in _FIXED[protocol].items():
            direction = columns.get(column, column)
            if direction not in directions:
                continue
            if direction == PAPER_DIRECTION:
                note = AS_PUBLISHED
            out.append(Setting(column, title, direction, order, note))
        return out
    return [Setting(d, d.replace("_", " "), d, i) for i, d in enumerate(directions)]


def dataset_title(protocol: str) -> str:
    return DATASET_NAMES.get(protocol, f"protocol {protocol}")
