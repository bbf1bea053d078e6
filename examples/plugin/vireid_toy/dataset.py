"""A dataset in a layout of its own: three flat folders, the camera in each file's name.

    ROOT/train/0007_c3_0001.jpg      pid 7, camera 3 (an infrared camera), image 1
    ROOT/query/...                   infrared images of the test identities
    ROOT/gallery/...                 visible images of the test identities

One evaluation split (infrared -> visible), scored with the ``toy`` protocol declared here.
``python -m vireid_toy.make_data DIR`` writes one from vireid's synthetic generator.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Iterable, Iterator

from vireid.core.params import Range
from vireid.data.datasets import VIReIDDataset, register_dataset
from vireid.data.datasets._index import check_root
from vireid.data.image import is_image_file
from vireid.data.protocols import EvalSplit
from vireid.data.records import Record
from vireid.errors import DatasetError
from vireid.evaluation.protocols import EvalProtocol

NAME = re.compile(r"^(\d+)_c(\d+)_\d+\.\w+$")
TOY = EvalProtocol("toy", trials=(0,), directions=("infrared_to_visible",))


@register_dataset("toy")
class ToyDataset(VIReIDDataset):
    """The toy layout (module docstring).

    Args:
        root: the folder holding ``train/``, ``query/`` and ``gallery/``.
        max_ids: train on the first ``max_ids`` identities only (all: None).
    """

    title = "toy"
    protocol = TOY
    cameras = {"visible": (1, 2, 4, 5), "infrared": (3, 6)}
    recipe = {"erasing_area": (0.05, 0.5)}  # the dataset's own random-erasing default
    layout = "train/, query/ and gallery/ of <pid>_c<camera>_<n>.jpg files"

    def __init__(self, root: str | os.PathLike, *, max_ids: Annotated[int | None, Range(2)] = None) -> None:
        self.root = check_root(root, self.title, self.layout)
        self.max_ids = max_ids
        self._folders = {name: self._read(name) for name in ("train", "query", "gallery")}

    @classmethod
    def detect(cls, root: Path) -> bool:
        return all((root / name).is_dir() for name in ("train", "query", "gallery"))

    @classmethod
    def folder_camera(cls, rel: Path) -> tuple[int, str] | None:
        m = NAME.match(rel.name)
        if m is None:
            return None
        cam = int(m.group(2))
        modality = next((mod for mod, cams in cls.cameras.items() if cam in cams), None)
        return (cam, modality) if modality is not None else None

    def _read(self, name: str) -> list[Record]:
        folder = self.root / name
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing (the toy layout has {self.layout})")
        out = []
        for file in sorted(f for f in os.listdir(folder) if is_image_file(f)):
            found = self.folder_camera(Path(file))
            if found is None:
                raise DatasetError(f"{folder / file}: expected <pid>_c<camera>_<n>.jpg with a camera of {self.cameras}")
            out.append(Record(str(folder / file), int(NAME.match(file).group(1)), found[0], found[1]))
        if not out:
            raise DatasetError(f"{folder}: no images")
        return out

    @property
    def train(self) -> list[Record]:
        records = self._folders["train"]
        if self.max_ids is not None:
            keep = sorted({r.pid for r in records})[: self.max_ids]
            records = [r for r in records if r.pid in keep]
        return [r for r in records if r.modality == "visible"] + [r for r in records if r.modality == "infrared"]

    def eval_splits(
        self, trials: Iterable[int] | None = None, directions: Iterable[str] | None = None
    ) -> Iterator[EvalSplit]:
        yield EvalSplit(
            query=self._folders["query"],
            gallery=self._folders["gallery"],
            protocol=self.protocol.name,
            trial=0,
            direction="infrared_to_visible",
        )
