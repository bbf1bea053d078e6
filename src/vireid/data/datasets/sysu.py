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
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

from vireid.data.datasets._index import check_root, read_id_list
from vireid.data.protocols import EvalSplit, collect_folder_records, format_ids, sample_gallery
from vireid.data.records import Record
from vireid.errors import ConfigError, DatasetError
from vireid.evaluation.protocols import SYSU as RULES

VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
GALLERY_CAMERAS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
SHOTS = {"single": 1, "multi": 10}


def _cams(cams: Iterable[int]) -> list[tuple[str, int]]:
    return [(f"cam{c}", c) for c in cams]


class SYSUMM01:
    """SYSU-MM01 in its official layout.

    Args:
        root: dataset folder holding ``cam1`` .. ``cam6`` and ``exp/``.
        mode: ``"all"`` (gallery cams 1, 2, 4, 5) or ``"indoor"`` (cams 1, 2).
        shot: ``"single"`` (1 gallery image per id and camera) or ``"multi"`` (10).
    """

    name = "sysu"
    protocol = RULES.name
    directions = RULES.directions  # infrared -> visible only

    def __init__(self, root: str | os.PathLike, *, mode: str = "all", shot: str = "single") -> None:
        if mode not in GALLERY_CAMERAS:
            raise ConfigError(f"SYSU-MM01 mode must be 'all' or 'indoor', got {mode!r}")
        if shot not in SHOTS:
            raise ConfigError(f"SYSU-MM01 shot must be 'single' or 'multi', got {shot!r}")
        self.root = check_root(root, "SYSU-MM01", "cam1..cam6 and exp/{train,val,test}_id.txt")
        self.mode = mode
        self.shot = shot
        exp = self.root / "exp"
        self.train_ids = read_id_list(exp / "train_id.txt")
        self.val_ids = read_id_list(exp / "val_id.txt")
        self.test_ids = read_id_list(exp / "test_id.txt")
        self._train: list[Record] | None = None

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
        self, trials: Iterable[int] = RULES.trials, directions: Iterable[str] | None = None
    ) -> Iterator[EvalSplit]:
        """One infrared -> visible split per trial (the query list is shared)."""
        for d in directions or self.directions:
            if d not in self.directions:
                raise ConfigError(f"SYSU-MM01 has only the 'infrared_to_visible' direction, got {d!r}")
        query = self.query()
        for trial in trials:
            yield EvalSplit(
                query=list(query),
                gallery=self.gallery(int(trial)),
                protocol=RULES.name,
                trial=int(trial),
                direction="infrared_to_visible",
            )

    def __repr__(self) -> str:
        return f"SYSUMM01(root={str(self.root)!r}, mode={self.mode!r}, shot={self.shot!r})"
