"""Leaving nothing behind when a command fails before doing anything.

``vireid train`` and ``vireid ablate`` take their folder's lock (:mod:`vireid.engine.lock`),
which makes the folder, and a new run writes its ``config.yaml``, before some late checks (a
grid key, the dataset, ``train.init_from``) can fail.  :class:`FolderUndo` notes what the folder
held before; :meth:`FolderUndo.undo` then removes the files the command made there -- only those
it names as its own, and only when nothing else is new (else the command did something, which
stays) -- and the folders it made that are left empty, the output folder and the parents made
for it included.  What was there before is never touched.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable


def _entries(folder: Path) -> tuple[set[str], set[str]]:
    """(files and links, folders) under ``folder``, as relative POSIX paths; links are not followed."""
    files: set[str] = set()
    dirs: set[str] = set()
    if not folder.is_dir() or folder.is_symlink():
        return files, dirs
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for d in list(dirnames):
            rel = (here / d).relative_to(folder).as_posix()
            if (here / d).is_symlink():
                files.add(rel)
                dirnames.remove(d)
            else:
                dirs.add(rel)
        files |= {(here / f).relative_to(folder).as_posix() for f in filenames}
    return files, dirs


class FolderUndo:
    """What ``folder`` held when made (nothing, when it did not exist); :meth:`undo` removes what
    was added since, when all of it is the command's own (``owned``)."""

    def __init__(self, folder: str | os.PathLike, owned: Callable[[str], bool]) -> None:
        self.folder = Path(folder)
        self.owned = owned
        self.made: list[Path] = []  # the folder and the parents it lacks, innermost first
        for p in (self.folder, *self.folder.parents):
            if os.path.lexists(p):
                break
            self.made.append(p)
        self.files, self.dirs = _entries(self.folder)
        self.armed = True

    def disarm(self) -> None:
        """The command has started its work: :meth:`undo` does nothing from now on."""
        self.armed = False

    def undo(self) -> bool:
        """Remove the new files (all ``owned``, else nothing is removed), the new folders left
        empty and the folders made for ``folder``; whether it did.  Never raises: the failure
        being reported matters more."""
        if not self.armed:
            return False
        self.armed = False
        files, dirs = _entries(self.folder)
        new = files - self.files
        if not all(self.owned(rel) for rel in new):
            return False
        for rel in new:
            with contextlib.suppress(OSError):
                (self.folder / rel).unlink()
        for rel in sorted(dirs - self.dirs, key=lambda r: -r.count("/")):
            with contextlib.suppress(OSError):
                (self.folder / rel).rmdir()  # only an empty one
        for p in self.made:
            with contextlib.suppress(OSError):
                p.rmdir()
        return True
