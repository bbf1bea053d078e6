"""RegDB reader (Nguyen et al., Sensors 2017), the 10-trial split of Ye et al.

Layout::

    ROOT/idx/{train,test}_{visible,thermal}_{1..10}.txt   # lines "relative/path label"
    ROOT/Visible/..., ROOT/Thermal/...                      # paths are relative to ROOT

Each trial is its own train/test split (``trial`` 1..10).  Labels come from the
index files (they are the ids the authors train and evaluate with).  RegDB has
one camera per modality; we set ``camid`` 1 for visible and 2 for thermal (the
RegDB protocol never filters by camera).  Thermal images are ``"infrared"``
records.  Evaluation (DEEN ``process_test_regdb``): the whole test split of the
other modality is the gallery, in index-file order; thermal -> visible is the
same pair of lists with query and gallery swapped, so the same features serve
both directions.

As published (DEEN ``test.py`` lines 356-357, 370-371 with ``test_mode = [2, 1]``): its
query list is the thermal test list, embedded with the visible stem (``test_mode[1] = 1``), and
its gallery list the visible one, embedded with the thermal stem (``test_mode[0] = 2``);
``--tvsearch`` (always true: ``default=True`` and no type) scores thermal -> visible
(``infrared_to_visible_paper``), its other branch visible -> thermal
(``visible_to_infrared_paper``), both with those stems.  Their calls also pass one list's
labels for the other's images (``eval_regdb(-distmat, gall_label, query_label)``), which changes
nothing when both lists hold the same labels in the same order, as RegDB's index files do; the
as-published splits require that.

A line listed twice in an index file (it doubled those queries: Rank-1 16.7 -> 26.7 %), or an
image in both the training and the test list of a trial, is an error naming the file and line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Iterable, Iterator

from vireid.core.params import Range
from vireid.data.datasets._index import check_disjoint, check_root, read_path_label_file, resolve_under
from vireid.data.datasets.base import VIReIDDataset, register_dataset
from vireid.data.protocols import EvalSplit
from vireid.data.records import Record
from vireid.errors import ConfigError, DatasetError
from vireid.evaluation.protocols import PAPER_DIRECTION, PAPER_IR_TO_VIS, REGDB

CAMID = {"visible": 1, "infrared": 2}
#: DEEN's test.py: thermal images through the visible stem, visible images through the thermal one
PUBLISHED_STEMS = {
    PAPER_DIRECTION: {"query_stem": "infrared", "gallery_stem": "visible"},
    PAPER_IR_TO_VIS: {"query_stem": "visible", "gallery_stem": "infrared"},
}
_FILE_MODAL = {"visible": "visible", "infrared": "thermal"}
_FOLDERS = {"visible": "visible", "thermal": "infrared"}  # top folder (any case) -> modality


@register_dataset("regdb")
class RegDB(VIReIDDataset):
    """RegDB with the split of one trial.

    Args:
        root: dataset folder holding ``idx/``, ``Visible/`` and ``Thermal/``.
        trial: which of the 10 train/test splits (1..10).
    """

    title = "RegDB"
    protocol = REGDB  # DEEN evaluates visible -> thermal by default (test_mode [2, 1])
    cameras = {"visible": (CAMID["visible"],), "infrared": (CAMID["infrared"],)}
    recipe = {"erasing_area": (0.02, 0.4), "erasing_ratio": 0.3}  # DEEN/train.py transform_regdb
    layout = "idx/, Visible/ and Thermal/"

    def __init__(self, root: str | os.PathLike, *, trial: Annotated[int, Range(1, 10)] = 1) -> None:
        if not isinstance(trial, int) or isinstance(trial, bool) or trial not in self.protocol.trials:
            raise ConfigError(f"RegDB trial must be an integer in 1..10, got {trial!r}")
        self.root = check_root(root, self.title, self.layout)
        self.trial = trial
        self._lines = {
            (split, modality): self._read_lines(split, modality, trial)
            for split in ("train", "test")
            for modality in ("visible", "infrared")
        }
        self._check_split(trial)
        self._lists = {key: records for key, (records, _) in self._lines.items()}

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "Visible").is_dir() and (root / "Thermal").is_dir()

    @classmethod
    def folder_camera(cls, rel: Path) -> tuple[int, str] | None:
        modality = _FOLDERS.get(rel.parts[0].lower()) if rel.parts else None
        return (CAMID[modality], modality) if modality is not None else None

    def _index_file(self, split: str, modality: str, trial: int) -> Path:
        return self.root / "idx" / f"{split}_{_FILE_MODAL[modality]}_{trial}.txt"

    def _read_lines(self, split: str, modality: str, trial: int) -> tuple[list[Record], list[int]]:
        path = self._index_file(split, modality, trial)
        lines = read_path_label_file(path)
        records = [
            Record(resolve_under(self.root, rel, path, lineno), label, CAMID[modality], modality)  # type: ignore[arg-type]
            for rel, label, lineno in lines
        ]
        return records, [lineno for _, _, lineno in lines]

    def _read(self, split: str, modality: str, trial: int) -> list[Record]:
        return self._read_lines(split, modality, trial)[0]

    def _check_split(self, trial: int) -> None:
        """No image of the trial's test lists may be in its training lists."""
        for modality in ("visible", "infrared"):
            check_disjoint(
                [
                    (self._index_file(split, modality, trial), [(r.path, n) for r, n in zip(*lines, strict=True)])
                    for split, lines in (
                        ("train", self._lines[("train", modality)]),
                        ("test", self._lines[("test", modality)]),
                    )
                ],
                what="image",
                why="a test image must not be among the training images",
            )

    @property
    def train(self) -> list[Record]:
        """Visible then thermal training images of this trial."""
        return self._lists[("train", "visible")] + self._lists[("train", "infrared")]

    def test(self, modality: str, trial: int | None = None) -> list[Record]:
        """The test list of one modality (``"visible"`` or ``"infrared"``)."""
        if trial is None or trial == self.trial:
            return list(self._lists[("test", modality)])
        return self._read("test", modality, trial)

    def eval_splits(
        self, trials: Iterable[int] | None = None, directions: Iterable[str] | None = None
    ) -> Iterator[EvalSplit]:
        """Both directions (visible -> thermal first) of this trial's test split.

        ``trials`` defaults to this object's trial; other trials (1..10) read
        their own test lists (a model trained on one trial should only be
        evaluated on that trial's test split).  ``visible_to_infrared_paper`` and
        ``infrared_to_visible_paper``: the same lists with the stems of DEEN's ``test.py``
        (module docstring).
        """
        dirs = tuple(directions or self.protocol.directions)
        for d in dirs:
            if d not in self.protocol.known_directions:
                raise ConfigError(f"RegDB direction must be one of {self.protocol.known_directions}, got {d!r}")
        for t in [self.trial] if trials is None else list(trials):
            if not isinstance(t, int) or t not in self.protocol.trials:
                raise ConfigError(f"RegDB trial must be an integer in 1..10, got {t!r}")
            vis, ir = self.test("visible", t), self.test("infrared", t)
            for d in dirs:
                query, gallery = (vis, ir) if d.startswith("visible_to_infrared") else (ir, vis)
                stems = PUBLISHED_STEMS.get(d, {})
                if stems:
                    self._check_paired_labels(t)
                yield EvalSplit(
                    query=list(query), gallery=list(gallery), protocol=self.protocol.name, trial=t, direction=d, **stems
                )

    def _check_paired_labels(self, trial: int) -> None:
        vis, ir = self.test("visible", trial), self.test("infrared", trial)
        if [r.pid for r in vis] != [r.pid for r in ir]:
            raise DatasetError(
                f"{self._index_file('test', 'visible', trial)} and {self._index_file('test', 'infrared', trial)} "
                "do not list the same labels in the same order, which the as-published RegDB directions need "
                "(DEEN's test.py scores each list with the other's labels); leave them out with eval.paper_columns="
                "{visible_to_infrared: visible_to_infrared, infrared_to_visible: infrared_to_visible}"
            )

    def __repr__(self) -> str:
        return f"RegDB(root={str(self.root)!r}, trial={self.trial})"
