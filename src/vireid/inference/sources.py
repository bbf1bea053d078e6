"""Image lists for ``vireid extract`` / ``vireid index build``: a folder of images or a CSV manifest.

A folder is searched recursively for image files (:data:`vireid.data.image.IMAGE_EXTENSIONS`,
hidden files skipped), in sorted path order.  Identities and cameras are parsed from the
layout ``.../{cam}/{pid}/image.jpg`` used by SYSU-MM01 (``cam3/0001/0001.jpg``): the parent
folder is the pid when it is a number, the grandparent the camera when it is a number or
``cam<N>``; otherwise the value is -1 (unknown).  A ``.csv`` file is read as a manifest
(:func:`vireid.data.datasets.manifest.read_manifest`) and only its rows of the requested
modality are kept.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vireid.data.image import is_image_file
from vireid.data.records import Record
from vireid.errors import DatasetError

_CAM = re.compile(r"^(?:cam(?:era)?[_-]?)?(\d+)$", re.IGNORECASE)


def parse_ids(path: Path) -> tuple[int, int]:
    """``(pid, camid)`` from ``.../{cam}/{pid}/file`` folder names, -1 where absent."""
    parent, grand = path.parent.name, path.parent.parent.name
    if not parent.isdigit():
        return -1, -1
    m = _CAM.match(grand)
    return int(parent), int(m.group(1)) if m else -1


def folder_records(root: str | os.PathLike, modality: str) -> list[Record]:
    root = Path(root)
    files = sorted(Path(d) / f for d, _, names in os.walk(root) for f in names if is_image_file(f))
    files = [f for f in files if not any(part.startswith(".") for part in f.relative_to(root).parts)]
    if not files:
        raise DatasetError(f"{root}: no images found (looked recursively for "
                           ".jpg, .jpeg, .png, .bmp, .tif, .tiff, .webp files)")
    out = []
    for f in files:
        pid, camid = parse_ids(f.relative_to(root))
        out.append(Record(str(f.resolve()), pid, camid, modality))  # type: ignore[arg-type]
    return out


def collect_records(source: str | os.PathLike, modality: str) -> tuple[list[Record], str]:
    """Records of ``modality`` from a folder or a CSV manifest, and a note on what was skipped."""
    p = Path(source).expanduser()
    if p.is_dir():
        return folder_records(p, modality), ""
    if p.is_file() and p.suffix.lower() == ".csv":
        from vireid.data.datasets.manifest import read_manifest

        records = read_manifest(p)
        kept = [r for r in records if r.modality == modality]
        if not kept:
            raise DatasetError(f"{p}: the manifest lists no {modality} images "
                               f"({len(records)} rows of the other modality)")
        skipped = len(records) - len(kept)
        return kept, (f"skipped {skipped} row(s) of the other modality in {p}" if skipped else "")
    if p.is_file():
        raise DatasetError(f"{p}: expected a folder of images or a CSV manifest (.csv)")
    raise DatasetError(f"{p}: no such folder or manifest")
