"""Parsing of the small index files the official dataset layouts ship.

Every problem is reported as :class:`DatasetError` with ``file:line`` and what
was expected.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vireid.errors import DatasetError, format_location

_CAM_DIR = re.compile(r"^cam(\d+)$", re.IGNORECASE)


def check_root(root: str | os.PathLike, dataset: str, expected: str) -> Path:
    """Resolve ``root`` to an absolute folder or raise a :class:`DatasetError`."""
    path = Path(root).expanduser()
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "not found"
        raise DatasetError(f"{path}: {dataset} root {what} (expected {expected})")
    return path.resolve()


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DatasetError(f"{path}: missing {what}")
    return path


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None


def read_id_list(path: Path) -> list[int]:
    """Integer ids of a comma-separated id file (SYSU ``exp/*_id.txt``, LLCM ``idx/test_id.txt``).

    The official files hold one line; further non-empty lines are read too.
    Blank entries (a trailing comma) are ignored; anything else that is not an
    integer is an error naming the line.
    """
    require_file(path, "id list file (one line of comma-separated integer ids)")
    ids: list[int] = []
    for lineno, line in enumerate(_read_lines(path), start=1):
        for token in line.split(","):
            token = token.strip()
            if not token:
                continue
            try:
                value = int(token)
            except ValueError:
                raise DatasetError(
                    f"{format_location(path, lineno)}: expected comma-separated integer ids, got {token!r}"
                ) from None
            if value < 0:
                raise DatasetError(f"{format_location(path, lineno)}: ids must be non-negative, got {value}")
            ids.append(value)
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
    for lineno, line in enumerate(_read_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetError(f"{format_location(path, lineno)}: expected 'relative/path label', got {line.strip()!r}")
        try:
            label = int(fields[1])
        except ValueError:
            raise DatasetError(
                f"{format_location(path, lineno)}: label must be an integer, got {fields[1]!r}"
            ) from None
        if label < 0:
            raise DatasetError(f"{format_location(path, lineno)}: label must be non-negative, got {label}")
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
    """Absolute path of ``rel_path`` under ``root``; absolute or escaping paths are errors."""
    rel = rel_path.replace("\\", "/").lstrip("/") if not os.path.isabs(rel_path) else None
    if rel is None:
        raise DatasetError(
            f"{format_location(index_file, lineno)}: expected a path relative to {root}, got absolute path {rel_path!r}"
        )
    full = os.path.normpath(os.path.join(root, rel))
    if not full.startswith(str(root) + os.sep):
        raise DatasetError(f"{format_location(index_file, lineno)}: path {rel_path!r} points outside {root}")
    return full
