"""Paths as vireid compares, recognises and shows them.

* :func:`same_path` / :func:`is_within`: the same file or folder through any spelling or link.
* :func:`dataset_root`: the dataset layout (SYSU-MM01, RegDB, LLCM, a plugin's) or synthetic dataset
  a path lies in -- the output policy (:mod:`vireid.utils.outputs`) never writes there.  The layouts
  are the dataset classes' own (:meth:`vireid.data.datasets.base.VIReIDDataset.detect`), each
  registered here when its class is (:func:`register_layout`): this low-level module knows none.
* :func:`file_problem`: why a path a command reads is not a file -- not found, a folder, a link to
  nothing, a pipe or a device (which would block a read forever) -- the one place every reader asks.
* :func:`shown`: the one function every user path (or any text that may hold one) goes through
  before it is printed: control characters are escaped, so a file name holding a newline prints
  as one line, never as a fake result row.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Callable

PathLike = str | os.PathLike

#: a synthetic dataset's settings file (:mod:`vireid.data.synth`), read here without importing it
SYNTH_META = "synth.json"
SYNTH_GENERATOR = "vireid.data.synth"
_LAYOUTS: dict[str, tuple[str, Callable[[Path], bool]]] = {}
_MAX_META_BYTES = 1 << 20  # a synth.json is a few kB: a larger file is not one


def file_problem(path: PathLike, what: str = "file") -> str | None:
    """Why ``path`` cannot be read as ``what`` (``"config file"``), in words, or None when it can:
    ``"config file not found"``, ``"is a folder, not a config file"``, ``"is a link to X, which does
    not exist"``, ``"is a named pipe, not a config file"`` (a read would wait forever), ``"is a
    device, not a config file"``."""
    p = Path(path)
    a = f"{'an' if what[:1] in 'aeiou' else 'a'} {what}"
    try:
        st = p.stat()
    except (FileNotFoundError, NotADirectoryError):
        if p.is_symlink():
            return f"is a link to {os.readlink(p)}, which does not exist"
        return f"{what} not found"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    except ValueError:  # a NUL byte in the name (a list line, a manifest row): os.stat refuses it
        return f"is a name holding a NUL byte, which no file can have; expected {a}"
    if stat.S_ISDIR(st.st_mode):
        return f"is a folder, not {a}"
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        return f"is a named pipe, not {a}"
    if not stat.S_ISREG(st.st_mode):
        return f"is a device, not {a}"
    return None


def found_file(path: PathLike, what: str = "file") -> bool:
    """Whether an optional file (a run's ``config.yaml``, a folder's ``best.safetensors``) is there
    to read: False when nothing is; True for a regular file; anything else there -- a pipe, a
    device, a folder, a link to nothing -- is a :class:`~vireid.errors.VireidError` naming it as
    what it is, not "not found"."""
    from vireid.errors import VireidError

    if not os.path.lexists(path):
        return False
    problem = file_problem(path, what)
    if problem:
        raise VireidError(f"{path}: {problem}")
    return True


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


def synth_meta(root: PathLike, *, strict: bool = True) -> dict | None:
    """The settings (``synth.json``) of the synthetic dataset at ``root``, or None when there is none
    (no ``synth.json``, or one that names another generator).  ``strict=False`` (a folder above a
    path, asked whether it is a dataset): a ``synth.json`` that is not vireid's is None too, unless
    the folder has a dataset's layout or the file names vireid as its generator -- a stray
    ``synth.json`` of another tool in a home folder stops nothing.

    The one reader of ``synth.json``: every command that asks whether a path is inside a dataset
    (the output policy, :func:`dataset_root`), ``vireid synth``, ``data.synth`` and ``vireid report``
    go through it.  A ``synth.json`` that is there but is not the object ``vireid synth`` writes --
    not a file, too large, not JSON or nested too deeply (:func:`vireid.utils.jsonio.json_loads`),
    not an object, without ``"generator"``, or vireid's without a ``"layout"`` name and a
    ``"params"`` object -- is a :class:`~vireid.errors.DatasetError` naming the file: it is never
    taken for "no synth.json" (which would call a dataset vireid made someone else's)."""
    from vireid.errors import DatasetError

    path = Path(root) / SYNTH_META
    if not os.path.lexists(path):
        return None
    try:
        return _synth_meta(path)
    except DatasetError as exc:
        if strict or getattr(exc, "claims_vireid", False) or _has_layout(Path(root)):
            raise
        return None


def _has_layout(root: Path) -> bool:
    for _, detect in list(_LAYOUTS.values()):
        try:
            if detect(root):
                return True
        except OSError:
            continue
    return False


def _synth_meta(path: Path) -> dict | None:
    from vireid.errors import DatasetError, JSONError
    from vireid.utils.jsonio import json_loads

    expected = (
        f'the JSON object vireid synth writes, {{"generator": "{SYNTH_GENERATOR}", "layout": NAME, "params": {{...}}}}'
    )
    problem = file_problem(path, "synth.json")
    if problem:
        raise DatasetError(f"{path}: {problem}")
    try:
        size = path.stat().st_size
        if size > _MAX_META_BYTES:
            raise DatasetError(f"{path}: {size} bytes; not a vireid synth.json (a few kB); expected {expected}")
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        meta = json_loads(raw, str(path), expected=expected)
    except JSONError as exc:
        raise DatasetError(str(exc)) from None
    if isinstance(meta, dict) and isinstance(meta.get("generator"), str) and meta["generator"] != SYNTH_GENERATOR:
        return None  # another tool's settings file
    if not isinstance(meta, dict):
        got = _JSON_KINDS.get(type(meta), "null")
    elif "generator" not in meta:
        got = "an object without 'generator'"
    elif meta["generator"] != SYNTH_GENERATOR:
        got = f"'generator' is {json.dumps(meta['generator'])}"
    elif not isinstance(meta.get("layout"), str):
        got = "no 'layout' name"
    elif not isinstance(meta.get("params"), dict):
        got = "no 'params' object"
    else:
        return meta
    exc = DatasetError(f"{path}: not a vireid synth.json ({got}); expected {expected}")
    exc.claims_vireid = isinstance(meta, dict) and meta.get("generator") == SYNTH_GENERATOR  # type: ignore[attr-defined]
    raise exc


_JSON_KINDS = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:
        return False


def register_layout(name: str, title: str, detect: Callable[[Path], bool]) -> None:
    """Make the layout of dataset ``name`` recognisable (``detect(root)``: is ``root`` its root?);
    called for every registered dataset class."""
    _LAYOUTS[name] = (title, detect)


def layout_title(name: str) -> str:
    """A layout's name in messages (``"SYSU-MM01"``)."""
    return _LAYOUTS[name][0] if name in _LAYOUTS else name


def layout_at(root: Path) -> str | None:
    """The dataset layout whose root is ``root`` (a registered dataset's name), else None: a
    synthetic dataset's ``synth.json`` names its layout, else a dataset class recognises the folder
    (a SYSU-MM01 root holds ``exp/`` and ``cam<N>/``, an LLCM root ``idx/`` and ``test_vis/``-like
    folders, a RegDB root ``Visible/`` and ``Thermal/``)."""
    meta = synth_meta(root, strict=False)
    if meta is not None and meta.get("layout") in _LAYOUTS:
        return str(meta["layout"])
    for name, (_, detect) in list(_LAYOUTS.items()):
        try:
            if detect(root):
                return name
        except OSError:
            continue
    return None


def dataset_root(path: PathLike) -> tuple[Path, str] | None:
    """``(root, layout)`` of the dataset ``path`` lies in (it or a folder above it is a dataset
    root, :func:`layout_at`), else None.  ``path`` need not exist: its existing folders are looked at."""
    start = Path(os.path.realpath(path))
    for root in (start, *start.parents):
        if _is_dir(root):
            layout = layout_at(root)
            if layout is not None:
                return root, layout
    return None


# C0 and C1 control characters, DEL, and the Unicode line/paragraph separators and bidirectional
# overrides (which reorder what a terminal shows)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match) -> str:
    c = m.group(0)
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def say(text: object) -> None:
    """Print a progress line on stdout (flushed), control characters escaped (:func:`shown`): the
    default ``log`` of every library function that reports as it goes."""
    print(shown(text), flush=True)


def shown(text: object) -> str:
    """``str(text)`` safe to print on one line: control characters escaped (``\\n``, ``\\x1b``...).

    Every place that prints a user path goes through it (error messages as a whole, in
    :mod:`vireid.cli.main`).  Undecodable bytes of a file name (surrogate escapes) are left for the
    output stream, which :mod:`vireid.cli.main` sets to write them back as the original bytes.
    """
    s = os.fspath(text) if isinstance(text, os.PathLike) else str(text)
    if isinstance(s, bytes):  # pragma: no cover - a bytes path
        s = os.fsdecode(s)
    return _UNSAFE.sub(_escape, s)
