"""An index folder on disk, written all-or-nothing and never over anything but an earlier index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vireid.errors import VireidError


def check_index_out(out: str | Path, inputs: dict[str, Any] | None = None) -> Path:
    """Refuse an index folder path that is a file, a non-empty folder other than a vireid index,
    or holds (or is) one of ``inputs`` (it is replaced as a whole)."""
    from vireid.utils.paths import check_output

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VireidError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "index.json").is_file():
        raise VireidError(f"{out}: exists, is not empty and is not a vireid index; refusing to overwrite it")
    check_output(out, inputs or {}, replaces_folder=True)
    return out


def save_index_dir(index: Any, out: str | Path, inputs: dict[str, Any] | None = None) -> Path:
    """Save ``index`` into the folder ``out`` all-or-nothing (a temporary sibling folder, then a
    rename); an earlier index at ``out`` is replaced, anything else refused (:func:`check_index_out`)."""
    import os
    import shutil

    from vireid.utils.io import make_temp_dir

    out = check_index_out(out, inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(f".{out.name}.", out.parent, suffix=".tmp")  # ordinary permissions once renamed
    old = None
    try:
        index.save(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists():
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out
