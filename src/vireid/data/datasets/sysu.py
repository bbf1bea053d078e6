"""SYSU-MM01 reader (Wu et al., ICCV 2017), official folder layout.

Layout::

    ROOT/cam{1..6}/{pid:04d}/{nnnn}.jpg
    ROOT/exp/train_id.txt, val_id.txt, test_id.txt   # one line of comma-separated ids

Visible cameras 1, 2, 4, 5 (cams 3 and 6 are near-infrared).  Training set =
train + val ids, as in DEEN's ``pre_process_sysu.py``.  Evaluation (DEEN
``data_manager.py``): queries are every infrared image of the test ids (cams 3
and 6, in both modes); the gallery is drawn per trial from cams 1, 2, 4, 5
(``mode="all"``) or 1, 2 (``mode="indoor"``), one image per (id, camera) for
single-shot or 10 for multi-shot, see :mod:`vireid.data.protocols`.
Only the infrared -> visible direction exists.

The id lists are checked when read: an id twice in a list, or in two lists, is an error naming
the file and line; an id with no image in any camera is a warning (the authors' code skips it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Literal

from vireid.data.datasets._index import (
    check_disjoint,
    check_root,
    read_id_lines,
    warn_without_images,
)
from vireid.data.datasets.base import VIReIDDataset, register_dataset
from vireid.data.protocols import EvalSplit, collect_folder_records, format_ids, sample_gallery
from vireid.data.records import Record
from vireid.errors import ConfigError, DatasetError
from vireid.evaluation.protocols import SYSU

VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
GALLERY_CAMERAS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
SHOTS = {"single": 1, "multi": 10}
_CAM_DIR = re.compile(r"^cam(\d+)$", re.IGNORECASE)


def _cams(cams: Iterable[int]) -> list[tuple[str, int]]:
    return [(f"cam{c}", c) for c in cams]


@register_dataset("sysu")
class SYSUMM01(VIReIDDataset):
    """SYSU-MM01 in its official layout.

    Args:
        root: dataset folder holding ``cam1`` .. ``cam6`` and ``exp/``.
        mode: ``"all"`` (gallery cams 1, 2, 4, 5) or ``"indoor"`` (cams 1, 2).
        shot: ``"single"`` (1 gallery image per id and camera) or ``"multi"`` (10).
    """

    title = "SYSU-MM01"
    protocol = SYSU  # infrared -> visible only
    cameras = {"visible": VISIBLE_CAMERAS, "infrared": INFRARED_CAMERAS}
    recipe = {"erasing_area": (0.2, 0.8), "erasing_ratio": 0.3}  # DEEN/train.py transform_sysu
    layout = "cam1..cam6 and exp/{train,val,test}_id.txt"

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        mode: Literal["all", "indoor"] = "all",
        shot: Literal["single", "multi"] = "single",
    ) -> None:
        if mode not in GALLERY_CAMERAS:
            raise ConfigError(f"SYSU-MM01 mode must be 'all' or 'indoor', got {mode!r}")
        if shot not in SHOTS:
            raise ConfigError(f"SYSU-MM01 shot must be 'single' or 'multi', got {shot!r}")
        self.root = check_root(root, self.title, self.layout)
        self.mode = mode
        self.shot = shot
        exp = self.root / "exp"
        self._lists = {name: read_id_lines(exp / f"{name}_id.txt") for name in ("train", "val", "test")}
        check_disjoint(
            [(exp / f"{name}_id.txt", ids) for name, ids in self._lists.items()],
            why="each id belongs to one of train, val and test",
        )
        self.train_ids = [i for i, _ in self._lists["train"]]
        self.val_ids = [i for i, _ in self._lists["val"]]
        self.test_ids = [i for i, _ in self._lists["test"]]
        self._train: list[Record] | None = None

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "exp").is_dir() and any((root / f"cam{c}").is_dir() for c in range(1, 7))

    @classmethod
    def folder_camera(cls, rel: Path) -> tuple[int, str] | None:
        m = _CAM_DIR.match(rel.parts[0]) if rel.parts else None
        if m is None:
            return None
        cam = int(m.group(1))
        modality = next((mod for mod, cams in cls.cameras.items() if cam in cams), None)
        return (cam, modality) if modality is not None else None

    @property
    def train(self) -> list[Record]:
        """Visible then infrared images of the train + val ids (DEEN's order within each)."""
        if self._train is not None:
            return list(self._train)
        ids = format_ids(self.train_ids + self.val_ids)
        vis = collect_folder_records(self.root, _cams(VISIBLE_CAMERAS), ids, "visible")
        ir = collect_folder_records(self.root, _cams(INFRARED_CAMERAS), ids, "infrared")
        if not vis or not ir:
            raise DatasetError(
                f"{self.root}: no {'visible' if not vis else 'infrared'} training images found "
                f"under cam*/<id>/ for the ids of exp/train_id.txt + exp/val_id.txt"
            )
        present = {r.pid for r in vis + ir}
        for name in ("train", "val"):
            warn_without_images(self.root / "exp" / f"{name}_id.txt", self._lists[name], present, "cam1..cam6")
        self._train = vis + ir
        return list(self._train)

    def query(self) -> list[Record]:
        """Every infrared image of the test ids (cams 3 and 6), ids in string order."""
        q = collect_folder_records(self.root, _cams(INFRARED_CAMERAS), format_ids(self.test_ids), "infrared")
        if not q:
            raise DatasetError(
                f"{self.root}: no infrared query images under cam3/ or cam6/ for the ids of exp/test_id.txt"
            )
        return q

    def gallery(self, trial: int) -> list[Record]:
        """The visible gallery of one trial (seeded by ``trial`` as in DEEN)."""
        g = sample_gallery(
            self.root, _cams(GALLERY_CAMERAS[self.mode]), format_ids(self.test_ids), "visible", trial, SHOTS[self.shot]
        )
        if not g:
            raise DatasetError(
                f"{self.root}: no visible gallery images under "
                f"{', '.join(f'cam{c}/' for c in GALLERY_CAMERAS[self.mode])} for the test ids"
            )
        return g

    def eval_splits(
        self, trials: Iterable[int] | None = None, directions: Iterable[str] | None = None
    ) -> Iterator[EvalSplit]:
        """One infrared -> visible split per trial (the query list is shared)."""
        for d in directions or self.protocol.directions:
            if d not in self.protocol.directions:
                raise ConfigError(f"SYSU-MM01 has only the 'infrared_to_visible' direction, got {d!r}")
        query = self.query()
        visible = collect_folder_records(self.root, _cams(VISIBLE_CAMERAS), format_ids(self.test_ids), "visible")
        present = {r.pid for r in query + visible}
        warn_without_images(self.root / "exp" / "test_id.txt", self._lists["test"], present, "cam1..cam6")
        for trial in self.protocol.trials if trials is None else trials:
            yield EvalSplit(
                query=list(query),
                gallery=self.gallery(int(trial)),
                protocol=self.protocol.name,
                trial=int(trial),
                direction="infrared_to_visible",
            )

    def __repr__(self) -> str:
        return f"SYSUMM01(root={str(self.root)!r}, mode={self.mode!r}, shot={self.shot!r})"
