"""Dataset readers in the official layouts, and :func:`build_dataset`.

Every reader takes ``(root, **options)``, validates the root and index files in
its constructor, and exposes ``.train -> list[Record]`` and
``.eval_splits(trials=...) -> Iterator[EvalSplit]``.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from vireid.data.datasets.llcm import LLCM
from vireid.data.datasets.manifest import ManifestDataset, read_manifest
from vireid.data.datasets.regdb import RegDB
from vireid.data.datasets.sysu import SYSUMM01
from vireid.errors import ConfigError

DATASETS: dict[str, type] = {
    "sysu": SYSUMM01,
    "regdb": RegDB,
    "llcm": LLCM,
    "manifest": ManifestDataset,
}


def build_dataset(name: str, root: str | os.PathLike, **kwargs: Any):
    """Construct the reader ``name`` (one of :data:`DATASETS`) on ``root``.

    Unknown names and options are :class:`ConfigError` s listing what is accepted.
    """
    key = str(name).lower()
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    cls = DATASETS[key]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "root")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"dataset {key!r} does not take option(s) {', '.join(unknown)}; accepted: {', '.join(accepted) or 'none'}"
        )
    return cls(root, **kwargs)


__all__ = ["DATASETS", "LLCM", "ManifestDataset", "RegDB", "SYSUMM01", "build_dataset", "read_manifest"]
