"""Paths in a config: a run stores them absolute; older files' relative ones resolve against the file.

A run's ``config.yaml`` (and the config a checkpoint carries) holds every path of the run
resolved (:func:`absolute_paths`), so ``vireid test --run RUN`` finds the data from any folder.
A relative path in a file written by an older vireid is taken relative to the folder of the file
that stores it, else the nearest folder above it where it exists (:func:`stored_paths`): a run
made from the repository root as ``runs/x`` with ``data.root: data/x`` finds ``data/x`` from
anywhere.  When it exists nowhere the command stops and says so -- it never creates a dataset in
the current folder.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from vireid.config.schema import Config
from vireid.errors import ConfigError

#: the config keys that hold file or folder paths
PATH_KEYS = ("data.root", "train.init_from", "model.pretrained")
_WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".t")


def is_path(key: str, value: Any) -> bool:
    """Whether ``value`` of ``key`` is a path (``model.pretrained`` may also be a weights name)."""
    if not isinstance(value, str) or not value or key not in PATH_KEYS:
        return False
    if key == "model.pretrained":
        return os.sep in value or "/" in value or Path(value).suffix in _WEIGHT_SUFFIXES or Path(value).is_file()
    return True


def _get(cfg: Config, key: str) -> Any:
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _set(obj: Any, key: str, value: Any) -> Any:
    head, _, rest = key.partition(".")
    inner = _set(getattr(obj, head), rest, value) if rest else value
    return dataclasses.replace(obj, **{head: inner})


def absolute_paths(cfg: Config, base: str | os.PathLike | None = None) -> Config:
    """``cfg`` with every path of :data:`PATH_KEYS` absolute (``~`` expanded, relative to ``base``,
    default the current folder; links are kept as written, ``..`` resolved)."""
    for key in PATH_KEYS:
        value = _get(cfg, key)
        if is_path(key, value):
            p = Path(os.path.expanduser(value))
            resolved = os.path.abspath(p if p.is_absolute() else Path(base or os.getcwd()) / p)
            cfg = _set(cfg, key, resolved)
    return cfg


def stored_paths(
    cfg: Config, stored_in: str | os.PathLike, *, skip: tuple[str, ...] = (), required: tuple[str, ...] = ("data.root",)
) -> Config:
    """``cfg``, read from the file ``stored_in``, with its relative paths resolved against that file
    (its folder, then the folders above it: the first where the path exists).  A ``required`` path
    that exists nowhere there is a :class:`ConfigError` naming the file and the key; another is
    taken relative to the file's folder.  ``skip``: keys the command line sets anew."""
    where = Path(os.path.abspath(stored_in))
    for key in PATH_KEYS:
        value = _get(cfg, key)
        if key in skip or not is_path(key, value) or Path(os.path.expanduser(value)).is_absolute():
            continue
        rel = Path(value)
        found = next((folder / rel for folder in where.parents if (folder / rel).exists()), None)
        if found is None and key in required:
            raise ConfigError(
                f"{where}: {key} is the relative path {value!r} (written by an older vireid), which exists neither "
                f"next to this file nor in a folder above it; pass {key}=PATH"
            )
        cfg = _set(cfg, key, os.path.abspath(found if found is not None else where.parent / rel))
    return cfg
