"""The dataset contract: one class per dataset declares everything vireid knows about it.

::

    @register_dataset("sysu")
    class SYSUMM01(VIReIDDataset):
        title = "SYSU-MM01"
        protocol = SYSU                                    # vireid.evaluation.protocols
        cameras = {"visible": (1, 2, 4, 5), "infrared": (3, 6)}
        recipe = {"erasing_area": (0.2, 0.8)}              # DEEN/train.py transform_sysu
        def __init__(self, root, *, mode: Literal["all", "indoor"] = "all", ...): ...

Every consumer asks the class instead of knowing the dataset: the config (``data.dataset``; its
options -- the constructor keywords, with their declared types, defaults and ranges -- are
``data.<option>`` keys), the evaluation plan (``protocol``: rules, trials, directions), the
training transform (``recipe``: the authors' defaults, e.g. random erasing), the folders
``vireid extract`` / ``index build`` read (:meth:`detect`, :meth:`folder_camera`) and the
synthetic generator (``cameras``).  A plugin adds a dataset with one such class.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping

from vireid.core.params import Params, declared_params
from vireid.core.registry import Entry, registry
from vireid.data.protocols import EvalSplit
from vireid.data.records import Record
from vireid.errors import PluginError
from vireid.evaluation.protocols import PLAIN, EvalProtocol, register_protocol
from vireid.utils.paths import register_layout


class VIReIDDataset:
    """Base class of every dataset reader (see the module docstring).

    Class attributes:
        name: the registry name (``data.dataset``), set by :func:`register_dataset`.
        title: the dataset's name in messages (``"SYSU-MM01"``).
        protocol: the :class:`~vireid.evaluation.protocols.EvalProtocol` its evaluation follows
            (which gallery items a query may match, its trials and directions).
        cameras: ``{modality: camera ids}``.
        recipe: the authors' training defaults for this dataset (``erasing_area`` (sl, sh) and
            ``erasing_ratio`` r1 of random erasing), used where a config leaves them unset.
        layout: what a root holds, for error messages.

    An instance is constructed with ``(root, **options)`` and validates the root and its index
    files; ``train`` is the training records, ``eval_splits(trials, directions)`` the
    evaluation splits.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    protocol: ClassVar[EvalProtocol] = PLAIN
    cameras: ClassVar[Mapping[str, tuple[int, ...]]] = {}
    recipe: ClassVar[Mapping[str, Any]] = {}
    layout: ClassVar[str] = ""

    root: Path

    @classmethod
    def options(cls) -> Params:
        """The dataset's options: its constructor keywords after ``root`` (``data.<option>``)."""
        return declared_params(cls, skip=("root",))

    @classmethod
    def detect(cls, root: Path) -> bool:
        """Whether ``root`` is the root of this dataset's layout (for folders given to ``extract``)."""
        return False

    @classmethod
    def folder_camera(cls, rel: Path) -> tuple[int, str] | None:
        """``(camera id, modality)`` of the image at ``rel`` (relative to a root of this layout; camera
        -1 where the layout gives the modality only), else None."""
        return None

    @property
    def train(self) -> list[Record]:
        raise NotImplementedError

    def eval_splits(
        self, trials: Iterable[int] | None = None, directions: Iterable[str] | None = None
    ) -> Iterator[EvalSplit]:
        raise NotImplementedError


def _check_dataset(entry: Entry) -> None:
    cls = entry.obj
    if not (isinstance(cls, type) and issubclass(cls, VIReIDDataset)):
        raise PluginError(f"dataset {entry.name!r}: expected a VIReIDDataset subclass, got {cls!r}")
    try:
        cls.options()
    except TypeError as exc:
        raise PluginError(f"dataset {entry.name!r}: {exc}") from None
    if not isinstance(cls.protocol, EvalProtocol):
        raise PluginError(f"dataset {entry.name!r}: protocol must be an EvalProtocol, got {cls.protocol!r}")


#: every dataset by name (``data.dataset``); each registers where it is defined
DATASETS = registry("dataset", check=_check_dataset, lower=True)


def register_dataset(name: str):
    """Class decorator: register a :class:`VIReIDDataset` as ``data.dataset: name``; its protocol
    becomes known by its name too."""

    def deco(cls: type[VIReIDDataset]) -> type[VIReIDDataset]:
        cls.name = name
        DATASETS.add(name, cls)
        if isinstance(cls.protocol, EvalProtocol):
            register_protocol(cls.protocol)
        register_layout(name, cls.title or name, cls.detect)  # the output policy never writes into one
        return cls

    return deco


def build_dataset(name: str, root: str | os.PathLike, **options: Any) -> VIReIDDataset:
    """The reader of dataset ``name`` on ``root``; unknown names and options are one-line errors."""
    from vireid.core.checks import check_kwargs

    cls = DATASETS.get(name)
    return cls(root, **check_kwargs(cls.options(), options, "data", noun="option"))
