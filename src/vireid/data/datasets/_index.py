"""Parsing and checking of the small index files the official dataset layouts ship.

Every problem is reported as :class:`DatasetError` with ``file:line`` and what was expected.
A list is checked when it is read (issue: a test id listed twice doubled its queries and moved
Rank-1 from 0 % to 25 %): an id or an image listed twice is an error naming both lines, as is an
identity or image in both a training and a test list.  What the authors' code tolerates -- an id
whose camera folders are missing (``if os.path.isdir(img_dir)`` in ``DEEN/data_manager.py``) --
is a :class:`~vireid.errors.VireidWarning` when an id has no image at all.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Iterable, Sequence

from vireid.errors import DatasetError, VireidWarning, format_location
from vireid.utils.paths import file_problem

_CAM_DIR = re.compile(r"^cam(\d+)$", re.IGNORECASE)


def check_root(root: str | os.PathLike, dataset: str, expected: str) -> Path:
    """Resolve ``root`` to an absolute folder or raise a :class:`DatasetError`."""
    path = Path(root).expanduser()
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "not found"
        raise DatasetError(f"{path}: {dataset} root {what} (expected {expected})")
    return path.resolve()


def require_file(path: Path, what: str) -> Path:
    problem = file_problem(path, what)
    if problem:
        raise DatasetError(f"{path}: missing {what}" if problem.endswith("not found") else f"{path}: {problem}")
    return path


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()  # -sig: Notepad starts a file with a BOM
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None


def read_id_list(path: Path) -> list[int]:
    """Integer ids of a comma-separated id file (SYSU ``exp/*_id.txt``, LLCM ``idx/test_id.txt``).

    The official files hold one line; further non-empty lines are read too.
    Blank entries (a trailing comma) are ignored; anything else that is not an
    integer is an error naming the line, and so is an id listed twice.
    """
    return [i for i, _ in read_id_lines(path)]


_ID = re.compile(r"-?[0-9]+")
#: ids and labels become int64 tensors
MAX_ID = 2**63 - 1


def parse_id(token: str, what: str, where: str, expected: str = "") -> int:
    """An id, label or camera number of a dataset list: ASCII digits, ``0 <= value <= 2^63 - 1``
    (``int()`` alone takes ``'1_000'``, ``'+7'`` and non-ASCII digits, and values no tensor holds)."""
    text = token.strip()
    if not _ID.fullmatch(text):
        raise DatasetError(
            f"{where}: {what} must be an integer, got {token!r}" + (f" (expected {expected})" if expected else "")
        )
    value = int(text)
    if value < 0:
        raise DatasetError(f"{where}: {what} must be non-negative, got {value}")
    if value > MAX_ID:
        raise DatasetError(f"{where}: {what} {value} is too large (at most 2^63 - 1)")
    return value


def read_id_lines(path: Path) -> list[tuple[int, int]]:
    """``(id, line)`` of every id of a comma-separated id file (see :func:`read_id_list`)."""
    require_file(path, "id list file (one line of comma-separated integer ids)")
    ids: list[tuple[int, int]] = []
    seen: dict[int, int] = {}
    for lineno, line in enumerate(_read_lines(path), start=1):
        for token in line.split(","):
            token = token.strip()
            if not token:
                continue
            value = parse_id(token, "id", format_location(path, lineno), "comma-separated integer ids")
            if value in seen:
                raise DatasetError(
                    f"{format_location(path, lineno)}: id {value} is listed twice (also on line {seen[value]}); "
                    "each id must appear once (a repeated test id repeats its queries)"
                )
            seen[value] = lineno
            ids.append((value, lineno))
    if not ids:
        raise DatasetError(f"{path}: empty id list (expected one line of comma-separated integer ids)")
    return ids


def read_path_label_file(path: Path) -> list[tuple[str, int, int]]:
    """``(relative_path, label, line_number)`` of an index file with lines ``path label``.

    Blank lines are skipped; a line without exactly two whitespace-separated
    fields or with a non-integer label is an error naming the line.
    """
    require_file(path, "index file (lines 'relative/path label')")
    out: list[tuple[str, int, int]] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(_read_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetError(f"{format_location(path, lineno)}: expected 'relative/path label', got {line.strip()!r}")
        label = parse_id(fields[1], "label", format_location(path, lineno))
        key = os.path.normpath(fields[0].replace("\\", "/"))
        if key in seen:
            raise DatasetError(
                f"{format_location(path, lineno)}: {fields[0]} is listed twice (also on line {seen[key]}); "
                "each image must appear once (a repeated line counts the image twice)"
            )
        seen[key] = lineno
        out.append((fields[0], label, lineno))
    if not out:
        raise DatasetError(f"{path}: index file lists no images")
    return out


def camera_from_path(rel_path: str, default: int = 0) -> int:
    """Camera number from the last ``camN`` folder of a relative path (``default`` if none)."""
    parts = rel_path.replace("\\", "/").split("/")[:-1]
    for part in reversed(parts):
        m = _CAM_DIR.match(part)
        if m:
            return int(m.group(1))
    return default


def resolve_under(root: Path, rel_path: str, index_file: Path, lineno: int) -> str:
    """Absolute path of ``rel_path`` under ``root``; absolute or escaping paths and images that are
    not there are errors naming the list's line (found at reading, not at the first epoch)."""
    rel = rel_path.replace("\\", "/").lstrip("/") if not os.path.isabs(rel_path) else None
    if rel is None:
        raise DatasetError(
            f"{format_location(index_file, lineno)}: expected a path relative to {root}, got absolute path {rel_path!r}"
        )
    full = os.path.normpath(os.path.join(root, rel))
    if not full.startswith(str(root) + os.sep):
        raise DatasetError(f"{format_location(index_file, lineno)}: path {rel_path!r} points outside {root}")
    if not os.path.isfile(full):
        problem = file_problem(full, "image file")
        raise DatasetError(f"{format_location(index_file, lineno)}: {rel_path!r}: {problem or 'not a file'}")
    return full


def check_disjoint(
    lists: Sequence[tuple[Path, Iterable[tuple[object, int]]]],
    what: str = "id",
    why: str = "a training identity must not be in a test list",
) -> None:
    """No item (an id, an image path) may be in two of ``lists`` (``(file, [(item, line)])``): a
    training identity in a test list leaks it into the evaluation."""
    first: dict[object, tuple[Path, int]] = {}
    for path, items in lists:
        mine: set[object] = set()
        for item, line in items:
            if item in first and item not in mine:
                other, other_line = first[item]
                also = format_location(other, other_line)
                raise DatasetError(f"{format_location(path, line)}: {what} {item} is also in {also}; {why}")
            mine.add(item)
            first.setdefault(item, (path, line))


def warn_without_images(path: Path, ids: Iterable[tuple[int, int]], has_images: Iterable[int], where: str) -> None:
    """A :class:`~vireid.errors.VireidWarning` naming the ids of ``path`` that have no image at all
    (the authors' code skips their missing folders; they add nothing to training or evaluation)."""
    found = set(has_images)
    empty = [(i, line) for i, line in ids if i not in found]
    if empty:
        shown = ", ".join(f"{i} (line {line})" for i, line in empty[:5]) + (", ..." if len(empty) > 5 else "")
        warnings.warn(
            f"{path}: {len(empty)} id(s) have no images under {where}: {shown}; "
            "they are skipped, as the authors' code does",
            VireidWarning,
            stacklevel=3,
        )
