"""An index folder on disk, written all-or-nothing and never over anything but an earlier index.

The output policy (:mod:`vireid.utils.outputs`) decides: ``--out`` may be a new or empty folder,
or an index vireid wrote that holds nothing else; its files (:data:`INDEX_FILES`) are the only
ones removed when it is replaced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INDEX_FILES = ("index.json", "feats.safetensors", "faiss.index")


def is_index_dir(path: str | Path) -> bool:
    """True if ``path`` holds a vireid index (its ``index.json`` says so)."""
    try:
        return json.loads((Path(path) / "index.json").read_text(encoding="utf-8")).get("format") == "vireid-index"
    except (OSError, ValueError, AttributeError):
        return False


def index_files(folder: Path) -> set[str] | None:
    """The files vireid wrote in the index folder ``folder`` (None when it is not an index)."""
    from vireid.utils.outputs import is_temporary

    if not is_index_dir(folder):
        return None
    temporary = {p.name for p in folder.iterdir() if is_temporary(p.name)}
    return {n for n in INDEX_FILES if (folder / n).is_file()} | temporary


def check_index_out(out: str | Path, inputs: dict[str, Any] | None = None) -> Path:
    """Refuse an index folder path the output policy forbids: a file, a non-empty folder other
    than a vireid index holding its files alone, a folder in a dataset, or one holding (or being)
    one of ``inputs`` (it is replaced as a whole)."""
    from vireid.utils.outputs import INDEX, check_folder

    check_folder(out, INDEX, inputs=inputs, owned=index_files)
    return Path(out)


def save_index_dir(index: Any, out: str | Path, inputs: dict[str, Any] | None = None) -> Path:
    """Save ``index`` (its ``_write_files(folder)``) into the folder ``out`` all-or-nothing: a
    temporary sibling folder, renamed into place when complete; an earlier index at ``out`` is
    replaced (its files removed, nothing else), anything else refused (:func:`check_index_out`).
    ``GalleryIndex.save`` calls this."""
    import os
    import shutil

    from vireid.utils.outputs import INDEX, check_folder, remove_owned, staging_dir, write_failed

    out = Path(out)
    owned = check_folder(out, INDEX, inputs=inputs, owned=index_files)
    old = tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = staging_dir(f".{out.name}.", out.parent, suffix=".tmp")  # ordinary permissions once renamed
        index._write_files(tmp)
        if out.exists():
            old = staging_dir(f".{out.name}.", out.parent, suffix=".old")  # replaced by the rename below
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)  # the staging folder: all vireid's
        if old is not None:
            if not out.exists():
                os.replace(old, out)
            else:
                shutil.rmtree(old, ignore_errors=True)
        if isinstance(exc, OSError):
            raise write_failed(out, exc, what="a gallery index", intact=bool(owned)) from None
        raise
    if old is not None:
        remove_owned(old, owned)  # what the earlier index held, nothing else
    return out
