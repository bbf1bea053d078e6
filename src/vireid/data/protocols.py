"""Evaluation splits: which images are queries and which form the gallery.

A dataset reader yields one :class:`EvalSplit` per (direction, trial); the rules of its
protocol (which gallery items a query may match, trials, directions) are
:class:`vireid.evaluation.protocols.EvalProtocol` objects.  The
gallery sampling reproduces the authors' code (``process_gallery_sysu`` /
``process_gallery_llcm`` of ``data_manager.py``, the same file in their ``DEEN/`` and ``AGW/``,
both seeding ``random`` with the trial):

* test ids are formatted ``"%04d"`` and visited in ``sorted`` (string) order,
  duplicates included;
* for each id, the gallery cameras are visited in their fixed order; a camera
  folder that is missing (or, here, empty) is skipped;
* the file names of a folder are ``sorted`` and one of them is drawn with
  ``random.choice`` from Python's ``random`` after ``random.seed(trial)``.

We use a private ``random.Random(trial)``, which draws the same numbers as the
seeded global generator without touching global state.  So on the real datasets
the same gallery images are drawn as in the published numbers.

Multi-shot (SYSU only, not implemented by the authors): ``rng.sample(files,
min(10, len(files)))`` with the same generator and visiting order, following the
SYSU-MM01 protocol of 10 random images per (id, camera).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

import numpy as np

from vireid.data.image import is_image_file
from vireid.data.records import Record
from vireid.evaluation.protocols import DIRECTIONS, PROTOCOLS, EvalProtocol, get_protocol

Direction = Literal["infrared_to_visible", "visible_to_infrared"]
__all__ = ["DIRECTIONS", "EvalSplit", "collect_folder_records", "format_ids", "list_images", "sample_gallery"]


@dataclass(frozen=True)
class EvalSplit:
    """Query and gallery records of one trial in one search direction.

    ``query_stem`` / ``gallery_stem``: the modality whose stem embeds that side (``None``: each
    image's own); RegDB's as-published directions embed both sides with the other one.
    """

    query: list[Record]
    gallery: list[Record]
    protocol: str  # a registered protocol's name (vireid.evaluation.protocols.PROTOCOLS)
    trial: int
    direction: str
    query_stem: str | None = None
    gallery_stem: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}")
        for stem in (self.query_stem, self.gallery_stem):
            if stem not in (None, "visible", "infrared"):
                raise ValueError(f"unknown stem {stem!r}; expected visible, infrared or None")

    @property
    def rules(self) -> EvalProtocol:
        """The rules of this split's protocol."""
        return get_protocol(self.protocol)

    def keep(self) -> np.ndarray:
        """``(num_query, num_gallery)`` booleans: which gallery items each query may match."""
        return self.rules.keep(
            [r.pid for r in self.query],
            [r.camid for r in self.query],
            [r.pid for r in self.gallery],
            [r.camid for r in self.gallery],
        )


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted image file names of ``folder`` (``[]`` when it does not exist).

    Sorting is Python's string order, as ``sorted(os.listdir(...))`` in the
    authors' code.  Hidden and non-image files are left out (the authors' code
    would keep them; real dataset folders contain none).
    """
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in names if is_image_file(n) and os.path.isfile(os.path.join(folder, n)))


def collect_folder_records(
    root: Path, camera_dirs: Sequence[tuple[str, int]], ids: Iterable[str], modality: str
) -> list[Record]:
    """All images of ``root/<camera_dir>/<id>/`` for ids (outer) x cameras (inner).

    ``camera_dirs`` pairs a folder (relative to root) with the camera number
    parsed from its name; the pid is the integer value of the id folder name.
    """
    out: list[Record] = []
    for pid_dir in ids:
        for cam_dir, camid in camera_dirs:
            folder = root / cam_dir / pid_dir
            for name in list_images(folder):
                out.append(Record(str(folder / name), int(pid_dir), camid, modality))  # type: ignore[arg-type]
    return out


def sample_gallery(
    root: Path, camera_dirs: Sequence[tuple[str, int]], ids: Iterable[str], modality: str, trial: int, shots: int = 1
) -> list[Record]:
    """One (``shots=1``) or up to ``shots`` random images per (id, camera), seeded by ``trial``.

    Reproduces ``random.seed(trial)`` + ``random.choice(sorted files)`` of the
    authors' ``process_gallery_*``; see the module docstring.
    """
    rng = random.Random(trial)
    out: list[Record] = []
    for pid_dir in ids:
        for cam_dir, camid in camera_dirs:
            folder = root / cam_dir / pid_dir
            names = list_images(folder)
            if not names:
                continue
            picked = [rng.choice(names)] if shots == 1 else rng.sample(names, min(shots, len(names)))
            out.extend(Record(str(folder / n), int(pid_dir), camid, modality) for n in picked)  # type: ignore[arg-type]
    return out


def format_ids(ids: Iterable[int]) -> list[str]:
    """``"%04d"`` folder names in the authors' visiting order (string-sorted, duplicates kept)."""
    return sorted("%04d" % i for i in ids)
