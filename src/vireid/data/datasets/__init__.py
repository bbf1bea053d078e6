"""Dataset readers in the official layouts (one :class:`VIReIDDataset` class each, registered where it
is defined), and :func:`build_dataset`.

Every reader takes ``(root, **options)``, validates the root and index files in its constructor,
and exposes ``.train -> list[Record]`` and ``.eval_splits(trials=..., directions=...) ->
Iterator[EvalSplit]``; see :mod:`vireid.data.datasets.base` for what else a dataset class declares.
"""

from __future__ import annotations

# the registration order is the order names are listed and layouts are recognised in
# isort: off
from vireid.data.datasets.base import DATASETS, VIReIDDataset, build_dataset, register_dataset
from vireid.data.datasets.sysu import SYSUMM01
from vireid.data.datasets.regdb import RegDB
from vireid.data.datasets.llcm import LLCM
from vireid.data.datasets.manifest import ManifestDataset, read_manifest

# isort: on

__all__ = [
    "DATASETS",
    "LLCM",
    "ManifestDataset",
    "RegDB",
    "SYSUMM01",
    "VIReIDDataset",
    "build_dataset",
    "read_manifest",
    "register_dataset",
]
