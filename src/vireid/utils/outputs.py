"""The output policy: the one rule that decides whether vireid may write a path.

Every command checks its outputs with it before any work (:func:`check_file`,
:func:`check_folder`), and every writer of :mod:`vireid.utils.io` checks again when it writes.
A path is written only when

1. its suffix is one its kind accepts (:data:`KINDS`: a picture is ``.png``, ``.pdf`` or ``.svg``,
   a features file ``.safetensors``, ...): ``--out x.gif`` is an error, never PNG bytes under a
   ``.gif`` name;
2. it lies in no dataset: not in an official SYSU-MM01 / RegDB / LLCM layout or a synthetic
   dataset (found at or above it, :func:`vireid.utils.paths.dataset_root`), nor in a dataset the
   command reads;
3. it is none of the command's inputs (through any spelling or link);
4. nothing is there (or an empty file), or vireid wrote what is there as the same kind of file
   (:func:`written_kind` recognises it from the file itself), or the user passed ``--overwrite``.
   A file vireid wrote as another kind -- a checkpoint where a features file would go, a
   training run's ``metrics.json`` where ``vireid test`` writes its own -- is never replaced,
   not even with ``--overwrite``.

A folder replaced as a whole (a synthetic dataset, a gallery index, the demo's run folder) is
emptied only of what vireid wrote there, as the folder's own list says (``owned``); anything
else in it stops the command, named (:func:`check_folder`, :func:`remove_owned`).

What vireid writes carries its mark (:mod:`vireid.utils.marks`); the kinds are listed in
:mod:`vireid.utils.kinds` and re-exported here.

The policy in force (``--overwrite``, the command's inputs and datasets) is a context
(:func:`policy`), set once per command by :mod:`vireid.cli.main` from the command's declaration;
library functions that learn more inputs from a config add them (:func:`reading`).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from vireid.errors import OutputError
from vireid.utils.kinds import (  # noqa: F401  (re-exported: writers name kinds as outputs.FEATURES)
    ABLATION_FOLDER,
    ABLATION_REPORT,
    ABLATION_RESULTS,
    ABLATION_SUMMARY,
    CHECKPOINT,
    CHECKPOINT_POINTER,
    DATASET,
    DEMO_FOLDER,
    DEMO_MARKER,
    EVALUATION,
    FEATURES,
    INDEX,
    INDEX_FEATS,
    INDEX_META,
    KINDS,
    MEMBER_KINDS,
    ONNX,
    PICTURE,
    REPORT_FOLDER,
    REPORT_MARKDOWN,
    REPORT_RESULTS,
    REPORT_TABLE,
    RUN_CHECKPOINT,
    RUN_CONFIG,
    RUN_FOLDER,
    RUN_LOCK,
    RUN_METRICS,
    STAGED,
    SYNTH_META,
    TEST_FOLDER,
    TEST_METRICS,
    TRAINING_LOG,
    TRAINING_STATE,
    UNTRAINED_METRICS,
    Kind,
    describe,
)
from vireid.utils.marks import json_mark, picture_metadata, text_header, written_kind  # noqa: F401
from vireid.utils.paths import dataset_root, is_within, layout_title, same_path, shown, synth_meta

PathLike = str | os.PathLike
Inputs = Mapping[str, "PathLike | Iterable[PathLike] | None"]


# --------------------------------------------------------------------------- the policy in force
@dataclass(frozen=True)
class Policy:
    """What the command in progress allows: ``overwrite`` (``--overwrite``), its inputs
    (``(what, path)`` pairs) and the datasets it reads."""

    overwrite: bool = False
    inputs: tuple[tuple[str, str], ...] = ()
    datasets: tuple[str, ...] = ()


_DEFAULT = Policy()
_CURRENT: contextvars.ContextVar[Policy | None] = contextvars.ContextVar("vireid_output_policy", default=None)


def current() -> Policy:
    """The policy in force (without :func:`policy`: no ``--overwrite``, no known inputs)."""
    return _CURRENT.get() or _DEFAULT


def _pairs(inputs: Inputs | None) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in (inputs or {}).items():
        if value is None:
            continue
        values = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        out += [(name, os.fspath(v)) for v in values if v is not None and os.fspath(v) != ""]
    return tuple(out)


@contextlib.contextmanager
def policy(
    *, overwrite: bool = False, inputs: Inputs | None = None, datasets: Iterable[PathLike] = ()
) -> Iterator[Policy]:
    """Set the policy in force for the duration (:mod:`vireid.cli.main` does it per command)."""
    token = _CURRENT.set(Policy(bool(overwrite), _pairs(inputs), tuple(os.fspath(d) for d in datasets if d)))
    try:
        yield current()
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def using(p: Policy | None) -> Iterator[Policy]:
    """Set ``p`` (a :func:`current` policy handed to a worker process) for the duration."""
    token = _CURRENT.set(p)
    try:
        yield current()
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def reading(inputs: Inputs | None = None, datasets: Iterable[PathLike | None] = ()) -> Iterator[Policy]:
    """Add inputs and datasets (learned from a config) to the policy in force for the duration."""
    now = current()
    more = replace(
        now,
        inputs=now.inputs + _pairs(inputs),
        datasets=now.datasets + tuple(os.fspath(d) for d in datasets if d),
    )
    token = _CURRENT.set(more)
    try:
        yield more
    finally:
        _CURRENT.reset(token)


# --------------------------------------------------------------------------- the checks
def _check_suffix(p: Path, kind: Kind, option: str) -> None:
    if kind.suffixes and p.suffix.lower() not in kind.suffixes:
        got = f"a {p.suffix} file" if p.suffix else "a name without a suffix"
        raise OutputError(f"{p}: {option} names {kind.noun} ({kind.suffix_text()}), not {got}")


def _check_parents(p: Path, option: str) -> None:
    for parent in p.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise OutputError(f"{p}: cannot be written, {parent} is a file, not a folder; choose another {option}")
            _check_names(p, parent, option)
            return


def _check_names(p: Path, existing: Path, option: str) -> None:
    """Names the file system cannot hold are refused before any work (not after it, at the write)."""
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in p.relative_to(existing).parts:
        if len(os.fsencode(part)) > limit:
            raise OutputError(
                f"{p}: a name of {len(os.fsencode(part))} bytes, longer than the file system takes ({limit}); "
                f"choose another {option}"
            )


def _check_dataset(p: Path, kind: Kind, option: str) -> None:
    found = dataset_root(p)
    if found is not None:
        root, layout = found
        synthetic = synth_meta(root, strict=False) is not None
        if not (kind is DATASET and synthetic and same_path(root, p)):
            name = ("synthetic " if synthetic else "") + layout_title(layout)
            where = f"is a {name} dataset" if same_path(root, p) else f"is inside the {name} dataset at {root}"
            raise OutputError(f"{p}: {where}; vireid never writes into a dataset -- choose another {option}")
    for root in current().datasets:
        if is_within(p, root) and not (kind is DATASET and same_path(root, p)):
            raise OutputError(
                f"{p}: is inside the dataset {root} this command reads; vireid never writes into a dataset -- "
                f"choose another {option}"
            )


def _check_inputs(p: Path, kind: Kind, option: str, inputs: Inputs | None) -> None:
    for name, value in current().inputs + _pairs(inputs):
        if kind is DATASET and same_path(p, value):
            continue  # the synthetic dataset a command makes and then reads (the demo, data.synth): its own rules apply
        exists = os.path.lexists(value)
        if not exists and "/" not in value and os.sep not in value:
            continue  # a name (a shipped config's), not a path
        # a folder files are added to may be an input folder (test --run RUN --out RUN), never a file
        if exists and (kind.folder != "add" or not os.path.isdir(value)) and same_path(p, value):
            raise OutputError(
                f"{p}: {option} is also the {name}; writing it would destroy an input -- choose another {option}"
            )
        if kind.folder == "replace" and is_within(value, p):
            raise OutputError(
                f"{p}: {option} would be replaced, but it holds the {name} {value}; choose another {option}"
            )


def check_file(path: PathLike, kind: Kind, *, option: str = "--out", inputs: Inputs | None = None) -> Path:
    """Refuse (:class:`~vireid.errors.OutputError`, one line) unless ``path`` may be written as a
    file of ``kind`` (the rules of the module docstring); returns ``path``."""
    p = Path(path)
    if kind.staged:
        return _check_staged(p)
    _check_inputs(p, kind, option, inputs)
    _check_dataset(p, kind, option)
    if p.is_dir():
        raise OutputError(f"{p}: is a folder; {option} names {kind.noun} ({kind.suffix_text()})")
    _check_suffix(p, kind, option)
    _check_parents(p, option)
    if not (p.exists() or p.is_symlink()):
        return p
    if p.is_file() and p.stat().st_size == 0:
        return p  # an empty file: nothing to lose
    found = written_kind(p)
    if found == kind.id:
        return p
    if found is not None:
        raise OutputError(
            f"{p}: holds {describe(found)} written by vireid, not {kind.noun}; vireid never replaces a file "
            f"with one of another kind (not even with --overwrite) -- choose another {option}"
        )
    if current().overwrite:
        return p
    raise OutputError(
        f"{p}: exists and was not written by vireid; pass --overwrite to replace it, or choose another {option}"
    )


def check_files(paths: Iterable[tuple[PathLike, Kind]], *, option: str = "--out", inputs: Inputs | None = None) -> None:
    """:func:`check_file` for each ``(path, kind)``: a command's planned files, before any work."""
    for path, kind in paths:
        check_file(path, kind, option=option, inputs=inputs)


def check_folder(
    path: PathLike,
    kind: Kind,
    *,
    option: str = "--out",
    inputs: Inputs | None = None,
    owned: Callable[[Path], set[str] | None] | None = None,
) -> set[str]:
    """Refuse (one line) unless ``path`` may be the folder output ``kind``; returns what vireid
    wrote there (relative paths) for a folder it replaces as a whole.

    ``owned(folder)``: the files vireid wrote in an existing folder of this kind (from the
    folder's own list), or None when the folder is not one; a ``"replace"`` kind's non-empty
    folder must be one, and hold nothing else.
    """
    p = Path(path)
    _check_inputs(p, kind, option, inputs)
    _check_dataset(p, kind, option)
    if p.is_symlink() and not p.exists():
        raise OutputError(f"{p}: is a link to {os.readlink(p)}, which does not exist; {option} names {kind.noun}")
    if p.exists() and not p.is_dir():
        raise OutputError(f"{p}: exists and is not a folder; {option} names {kind.noun}")
    _check_parents(p, option)
    if kind.folder != "replace" or not p.is_dir() or not any(p.iterdir()):
        return set()
    mine = owned(p) if owned is not None else None
    if mine is None:
        raise OutputError(
            f"{p}: is not empty and is not {kind.noun} vireid wrote; vireid never deletes it -- choose a new or "
            f"empty folder for {option}"
        )
    foreign = foreign_entries(p, mine)
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        listed = ", ".join(shown(f) for f in foreign[:3]) + more
        raise OutputError(
            f"{p}: holds {listed}, which {'is' if len(foreign) == 1 else 'are'} not among the files vireid wrote as "
            f"{kind.noun}; vireid replaces {kind.noun} only when it holds "
            f"nothing else -- move {'it' if len(foreign) == 1 else 'them'} away or choose another {option}"
        )
    return mine


# --------------------------------------------------------------------------- folders
def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def foreign_entries(folder: PathLike, owned: set[str]) -> list[str]:
    """What in ``folder`` vireid did not write: files (and links) not in ``owned`` and folders
    holding none of ``owned`` (named once, not file by file), as sorted relative paths."""
    root = Path(folder)
    keep_dirs = {str(Path(o).parent.as_posix()) for o in owned}
    keep_dirs |= {p.as_posix() for o in owned for p in Path(o).parents}
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in list(dirnames):
            rel = _rel(here / d, root)
            if (here / d).is_symlink() or rel not in keep_dirs:
                out.append(rel + ("" if (here / d).is_symlink() else "/"))
                dirnames.remove(d)
        out += [_rel(here / f, root) for f in filenames if _rel(here / f, root) not in owned]
    return sorted(out)


def remove_owned(folder: PathLike, owned: set[str], *, keep_root: bool = False) -> list[str]:
    """Delete the files of ``owned`` in ``folder``, then every folder left empty (bottom-up, the
    folder itself included unless ``keep_root``); returns what is left (nothing else is touched)."""
    root = Path(folder)
    for rel in owned:
        parents = list(Path(rel).parents)[:-1]  # inside the folder; never through a link to elsewhere
        if any((root / p).is_symlink() for p in parents):
            continue
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            (root / rel).unlink()
    for dirpath, _, _ in sorted(os.walk(root), key=lambda t: -len(Path(t[0]).parts)):
        if keep_root and Path(dirpath) == root:
            continue
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)
    return foreign_entries(root, set()) if root.exists() else []


_STAGING: set[str] = set()
_TEMP = re.compile(r"^\..+[.\-_][A-Za-z0-9_]{8}\.(?:tmp|old)$")


def staging_dir(prefix: str, parent: PathLike, suffix: str = ".tmp") -> Path:
    """A private temporary folder in ``parent`` (ordinary permissions) where a folder output is
    assembled before it is renamed into place; files written there use the kind :data:`STAGED`."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    _STAGING.add(os.path.realpath(tmp))
    return tmp


def _check_staged(p: Path) -> Path:
    if not any(is_within(p, s) for s in _STAGING):
        raise RuntimeError(f"{p}: a staged write outside a staging folder (a vireid bug)")
    return p


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file or folder of an interrupted vireid write."""
    return bool(_TEMP.match(name))


# --------------------------------------------------------------------------- failures
_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def os_reason(exc: OSError) -> str:
    """What an ``OSError`` means, in words (``the disk is full``)."""
    return _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)


def write_failed(path: PathLike, exc: OSError, *, what: str = "", intact: bool = False) -> OutputError:
    """The one-line error for an ``OSError`` while writing ``path`` (nothing was left behind)."""
    reason = os_reason(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = Path(path).parent if Path(path).parent != Path("") else Path(".")
        reason += f" in {where}"
    tail = "; the previous file is intact" if intact else ""
    return OutputError(f"{path}: cannot write {what or 'the file'} ({reason}); nothing was written{tail}")
