"""LLCM reader (Zhang & Wang, CVPR 2023, the DEEN paper), official layout.

Layout::

    ROOT/idx/train_vis.txt, ROOT/idx/train_nir.txt   # lines "relative/path label"
    ROOT/idx/test_id.txt                             # one line of comma-separated ids
    ROOT/test_vis/cam{1..9}/{pid:04d}/...
    ROOT/test_nir/cam{1,2,4..9}/{pid:04d}/...        # cam3 has no infrared folder

Training pids are the labels of the index files (what DEEN trains with); the
camera of a training image is parsed from the ``camN`` folder of its path (0
when the path has none).  Evaluation (DEEN ``process_query_llcm`` /
``process_gallery_llcm``): the query is every test image of one modality (ids
in string order, cameras in order); the gallery is one random image per (id,
camera) of the other modality, seeded by the trial.  A missing or empty camera
folder is skipped.

The lists are checked when read: an image twice in a training list, a test id twice, or a test
id that is also a training identity (its ``PPPP`` folder in ``train_vis/camN/PPPP/...``) is an error
naming the file and line.

Our visible -> infrared split is query x gallery like the other direction.  The authors'
``test.py`` for visible -> infrared (``test_mode = [2, 1]``) scores the transposed matrix
instead: the trial's sampled infrared images are the queries and every visible test image the
gallery.  That is the published VIS -> IR column; ask for it as the direction
``visible_to_infrared_paper`` (the full evaluation reports it beside ours).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

from vireid.data.datasets._index import (
    camera_from_path,
    check_disjoint,
    check_root,
    read_id_lines,
    read_path_label_file,
    resolve_under,
    warn_without_images,
)
from vireid.data.datasets.base import VIReIDDataset, register_dataset
from vireid.data.protocols import DIRECTIONS, EvalSplit, collect_folder_records, format_ids, sample_gallery
from vireid.data.records import Record
from vireid.errors import ConfigError, DatasetError
from vireid.evaluation.protocols import LLCM as RULES
from vireid.evaluation.protocols import PAPER_DIRECTION

VISIBLE_CAMERAS = tuple(range(1, 10))
INFRARED_CAMERAS = (1, 2, 4, 5, 6, 7, 8, 9)
_FOLDERS = {"visible": ("test_vis", VISIBLE_CAMERAS), "infrared": ("test_nir", INFRARED_CAMERAS)}
_TOP_FOLDERS = {"test_vis": "visible", "train_vis": "visible", "test_nir": "infrared", "train_nir": "infrared"}


def _camera_dirs(modality: str) -> list[tuple[str, int]]:
    top, cams = _FOLDERS[modality]
    return [(f"{top}/cam{c}", c) for c in cams]


@register_dataset("llcm")
class LLCM(VIReIDDataset):
    """LLCM in its official layout.

    Args:
        root: dataset folder holding ``idx/``, ``test_vis/`` and ``test_nir/``.
    """

    title = "LLCM"
    protocol = RULES  # DEEN's default test mode [1, 2] is infrared -> visible
    cameras = {"visible": VISIBLE_CAMERAS, "infrared": INFRARED_CAMERAS}
    recipe = {"erasing_area": (0.02, 0.4), "erasing_ratio": 0.3}  # DEEN/train.py transform_llcm
    layout = "idx/, test_vis/ and test_nir/"

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = check_root(root, self.title, self.layout)
        idx = self.root / "idx"
        self._train_files = {"visible": idx / "train_vis.txt", "infrared": idx / "train_nir.txt"}
        test_lines = read_id_lines(idx / "test_id.txt")
        self._test_lines = test_lines
        self.test_ids = [i for i, _ in test_lines]
        self._train = self._read_train(test_lines, idx / "test_id.txt")

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "idx").is_dir() and any((root / d).is_dir() for d in _TOP_FOLDERS)

    @classmethod
    def folder_camera(cls, rel: Path) -> tuple[int, str] | None:
        modality = _TOP_FOLDERS.get(rel.parts[0]) if rel.parts else None
        return (camera_from_path(rel.as_posix(), default=-1), modality) if modality is not None else None

    def _read_train(self, test_ids: list[tuple[int, int]], test_file: Path) -> list[Record]:
        records: list[Record] = []
        identities: list[tuple[int, int]] = []  # (raw id of the PPPP folder, line) of the training images
        for modality, path in self._train_files.items():
            for rel, label, lineno in read_path_label_file(path):
                records.append(
                    Record(resolve_under(self.root, rel, path, lineno), label, camera_from_path(rel), modality)  # type: ignore[arg-type]
                )
                pid = _identity_folder(rel)
                if pid is not None:
                    identities.append((pid, lineno))
            check_disjoint([(path, identities), (test_file, test_ids)], why="a training identity must not be a test id")
            identities = []
        return records

    @property
    def train(self) -> list[Record]:
        """Images of ``train_vis.txt`` then ``train_nir.txt``, in file order."""
        return list(self._train)

    def query(self, modality: str) -> list[Record]:
        """Every test image of ``modality`` (ids string-sorted, cameras in order)."""
        q = collect_folder_records(self.root, _camera_dirs(modality), format_ids(self.test_ids), modality)
        if not q:
            raise DatasetError(
                f"{self.root / _FOLDERS[modality][0]}: no {modality} test images "
                f"under cam*/<id>/ for the ids of idx/test_id.txt"
            )
        return q

    def gallery(self, modality: str, trial: int) -> list[Record]:
        """One random ``modality`` image per (id, camera), seeded by ``trial`` as in DEEN."""
        g = sample_gallery(self.root, _camera_dirs(modality), format_ids(self.test_ids), modality, trial)
        if not g:
            raise DatasetError(
                f"{self.root / _FOLDERS[modality][0]}: no {modality} gallery images "
                f"under cam*/<id>/ for the ids of idx/test_id.txt"
            )
        return g

    def eval_splits(
        self, trials: Iterable[int] | None = None, directions: Iterable[str] | None = None
    ) -> Iterator[EvalSplit]:
        """For each direction (infrared -> visible first), one split per trial.

        ``visible_to_infrared_paper``: the authors' published orientation -- the trial's sampled
        infrared images (the infrared gallery of that trial) as queries, all visible test images
        as the gallery.
        """
        dirs = tuple(directions or self.protocol.directions)
        known = DIRECTIONS + (PAPER_DIRECTION,)
        for d in dirs:
            if d not in known:
                raise ConfigError(f"LLCM direction must be one of {known}, got {d!r}")
        trials = [int(t) for t in (self.protocol.trials if trials is None else trials)]
        present = {r.pid for m in ("visible", "infrared") for r in self.query(m)}
        warn_without_images(self.root / "idx" / "test_id.txt", self._test_lines, present, "test_vis/ and test_nir/")
        for d in dirs:
            if d == PAPER_DIRECTION:
                everything = self.query("visible")
                for t in trials:
                    yield EvalSplit(
                        query=self.gallery("infrared", t),
                        gallery=list(everything),
                        protocol=RULES.name,
                        trial=t,
                        direction=d,
                    )
                continue
            q_mod, g_mod = ("infrared", "visible") if d == "infrared_to_visible" else ("visible", "infrared")
            query = self.query(q_mod)
            for t in trials:
                yield EvalSplit(
                    query=list(query), gallery=self.gallery(g_mod, t), protocol=RULES.name, trial=t, direction=d
                )

    def __repr__(self) -> str:
        return f"LLCM(root={str(self.root)!r})"


def _identity_folder(rel: str) -> int | None:
    """The raw identity of a training path ``train_vis/camN/PPPP/file`` (the folder after the camera
    folder), else None."""
    parts = rel.replace("\\", "/").split("/")
    for i, part in enumerate(parts[:-2]):
        if part.lower().startswith("cam") and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None
