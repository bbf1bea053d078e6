"""Output paths that would destroy an input are refused before anything is written.

Every command that writes a file or a folder asks :func:`check_output` first with the paths
it reads: an output equal to one of them (the same file, through any spelling or link), or a
folder output that would be replaced while holding one of them, is a :class:`VireidError`
naming both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

from vireid.errors import VireidError

PathLike = str | os.PathLike


def same_path(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file or folder (links and ``..`` resolved)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def is_within(path: PathLike, folder: PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (after resolving links)."""
    p, f = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return p == f or f in p.parents


def check_output(
    out: PathLike,
    inputs: Mapping[str, PathLike | Iterable[PathLike] | None],
    *,
    option: str = "--out",
    folder: bool = False,
    replaces_folder: bool = False,
) -> None:
    """Refuse ``out`` when it is one of ``inputs`` (``{option name: path or paths}``).

    ``folder``: ``out`` names a folder (else a file: an existing folder there is refused);
    ``replaces_folder``: ``out`` is a folder the command replaces as a whole, so an input
    anywhere inside it is refused too.
    """
    folder = folder or replaces_folder
    if not folder and os.path.isdir(out):
        raise VireidError(f"{out}: is a folder; {option} must be a file path")
    if folder and os.path.exists(out) and not os.path.isdir(out):
        raise VireidError(f"{out}: exists and is not a folder; {option} names a folder")
    for name, value in inputs.items():
        if value is None:
            continue
        paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        for p in paths:
            if p is None or str(p) == "":
                continue
            if same_path(out, p):
                raise VireidError(
                    f"{out}: {option} is also the {name}; writing it would destroy an input -- choose another {option}"
                )
            if replaces_folder and is_within(p, out):
                raise VireidError(
                    f"{out}: {option} would be replaced, but it holds the {name} {p}; choose another {option}"
                )
