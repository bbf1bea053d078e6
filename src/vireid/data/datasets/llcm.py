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

Our visible -> infrared split is query x gallery like the other direction.  The authors'
``test.py`` for visible -> infrared (``test_mode = [2, 1]``) scores the transposed matrix
instead: the trial's sampled infrared images are the queries and every visible test image the
gallery.  That is the published VIS -> IR column; ask for it as the direction
``visible_to_infrared_paper`` (the full evaluation reports it beside ours).
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

from vireid.data.datasets._index import camera_from_path, check_root, read_id_list, read_path_label_file, resolve_under
from vireid.data.protocols import DIRECTIONS, EvalSplit, collect_folder_records, format_ids, sample_gallery
from vireid.data.records import Record
from vireid.errors import ConfigError, DatasetError
from vireid.evaluation.protocols import LLCM as RULES
from vireid.evaluation.protocols import PAPER_DIRECTION

VISIBLE_CAMERAS = tuple(range(1, 10))
INFRARED_CAMERAS = (1, 2, 4, 5, 6, 7, 8, 9)
_FOLDERS = {"visible": ("test_vis", VISIBLE_CAMERAS), "infrared": ("test_nir", INFRARED_CAMERAS)}


def _camera_dirs(modality: str) -> list[tuple[str, int]]:
    top, cams = _FOLDERS[modality]
    return [(f"{top}/cam{c}", c) for c in cams]


class LLCM:
    """LLCM in its official layout.

    Args:
        root: dataset folder holding ``idx/``, ``test_vis/`` and ``test_nir/``.
    """

    name = "llcm"
    protocol = RULES.name
    directions = RULES.directions  # DEEN's default test mode [1, 2] is infrared -> visible

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = check_root(root, "LLCM", "idx/, test_vis/ and test_nir/")
        idx = self.root / "idx"
        self._train_files = {"visible": idx / "train_vis.txt", "infrared": idx / "train_nir.txt"}
        self.test_ids = read_id_list(idx / "test_id.txt")
        self._train = self._read_train()

    def _read_train(self) -> list[Record]:
        records: list[Record] = []
        for modality, path in self._train_files.items():
            records += [
                Record(resolve_under(self.root, rel, path, lineno), label, camera_from_path(rel), modality)  # type: ignore[arg-type]
                for rel, label, lineno in read_path_label_file(path)
            ]
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
        self, trials: Iterable[int] = RULES.trials, directions: Iterable[str] | None = None
    ) -> Iterator[EvalSplit]:
        """For each direction (infrared -> visible first), one split per trial.

        ``visible_to_infrared_paper``: the authors' published orientation -- the trial's sampled
        infrared images (the infrared gallery of that trial) as queries, all visible test images
        as the gallery.
        """
        dirs = tuple(directions or self.directions)
        known = DIRECTIONS + (PAPER_DIRECTION,)
        for d in dirs:
            if d not in known:
                raise ConfigError(f"LLCM direction must be one of {known}, got {d!r}")
        trials = [int(t) for t in trials]
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
