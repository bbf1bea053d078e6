"""Image lists for ``vireid extract`` / ``vireid index build``: a folder of images or a CSV manifest.

A folder is searched recursively for image files (:data:`vireid.data.image.IMAGE_EXTENSIONS`,
hidden files skipped), in sorted path order.  Identities and cameras are parsed from the
layout ``.../{cam}/{pid}/image.jpg`` used by SYSU-MM01 (``cam3/0001/0001.jpg``): the parent
folder is the pid when it is a number, the grandparent the camera when it is a number or
``cam<N>`` -- also above the folder given (``data/sysu/cam3`` has camera 3); otherwise the
value is -1 (unknown).

A folder inside an official dataset layout (:func:`dataset_layout`: a SYSU-MM01, LLCM or RegDB
root, found at or above it) takes each camera's modality from that layout: ``--modality``
then selects those images, the others are skipped with a note, and a folder holding none of
them is refused (``cam3`` of SYSU-MM01 is infrared, whatever the command line says).  A
``.csv`` file is read as a manifest (:func:`vireid.data.datasets.manifest.read_manifest`) and
only its rows of the requested modality are kept.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vireid.data.image import is_image_file
from vireid.data.records import Record
from vireid.errors import DatasetError

_CAM = re.compile(r"^(?:cam(?:era)?[_-]?)?(\d+)$", re.IGNORECASE)


_CAM_DIR = re.compile(r"^cam(\d+)$", re.IGNORECASE)
_SYSU_CAMERAS = {1: "visible", 2: "visible", 3: "infrared", 4: "visible", 5: "visible", 6: "infrared"}
_TOP_FOLDERS = {
    "llcm": {"test_vis": "visible", "train_vis": "visible", "test_nir": "infrared", "train_nir": "infrared"},
    "regdb": {"visible": "visible", "thermal": "infrared"},
}
_REGDB_CAMID = {"visible": 1, "infrared": 2}  # as the RegDB reader numbers them
LAYOUT_NAMES = {"sysu": "SYSU-MM01", "llcm": "LLCM", "regdb": "RegDB"}


def parse_ids(path: Path, absolute: Path | None = None) -> tuple[int, int]:
    """``(pid, camid)`` from ``.../{cam}/{pid}/file`` folder names, -1 where absent.

    ``path`` is relative to the folder given; ``absolute`` (the same file's full path) supplies
    the folders above it, where only a ``cam<N>`` camera folder counts (with the pid folder
    below it): ``data/sysu/cam3`` and ``data/sysu/cam3/0007`` keep camera 3 and pid 7.
    """
    full = absolute if absolute is not None else path
    parent, grand = full.parent.name, full.parent.parent.name
    depth = len(path.parts)  # the file, its parent and grandparent are inside the folder given
    m = _CAM.match(grand) if depth >= 3 else _CAM_DIR.match(grand)
    if not parent.isdigit() or (depth < 2 and m is None):
        return -1, -1
    return int(parent), int(m.group(1)) if m else -1


def dataset_layout(folder: str | os.PathLike) -> tuple[Path, str] | None:
    """``(root, layout)`` of the official dataset layout ``folder`` lies in (it or a folder above it
    is a SYSU-MM01 root with ``exp/`` and ``cam<N>/``, an LLCM root with ``test_vis/``/``test_nir/``
    and ``idx/``, a RegDB root with ``Visible/`` and ``Thermal/``, or a synthetic dataset's
    ``synth.json``), else None."""
    from vireid.data.synth import read_meta

    start = Path(folder).resolve()
    for root in (start, *start.parents):
        meta = read_meta(root)
        if meta is not None and meta.get("layout") in LAYOUT_NAMES:
            return root, meta["layout"]
        if (root / "exp").is_dir() and any((root / f"cam{c}").is_dir() for c in _SYSU_CAMERAS):
            return root, "sysu"
        if (root / "idx").is_dir() and any((root / d).is_dir() for d in _TOP_FOLDERS["llcm"]):
            return root, "llcm"
        if (root / "Visible").is_dir() and (root / "Thermal").is_dir():
            return root, "regdb"
    return None


def layout_modality(layout: str, rel: Path) -> str | None:
    """The modality ``layout`` gives the image at ``rel`` (relative to the dataset root), else None."""
    parts = rel.parts
    if not parts:
        return None
    if layout == "sysu":
        m = _CAM_DIR.match(parts[0])
        return _SYSU_CAMERAS.get(int(m.group(1))) if m else None
    return _TOP_FOLDERS[layout].get(parts[0].lower() if layout == "regdb" else parts[0])


def folder_records(root: str | os.PathLike, modality: str) -> list[Record]:
    """Records of every image under ``root`` (modality from the dataset layout where there is one,
    else ``modality``)."""
    root = Path(root)
    files = sorted(Path(d) / f for d, _, names in os.walk(root) for f in names if is_image_file(f))
    files = [f for f in files if not any(part.startswith(".") for part in f.relative_to(root).parts)]
    if not files:
        raise DatasetError(
            f"{root}: no images found (looked recursively for .jpg, .jpeg, .png, .bmp, .tif, .tiff, .webp files)"
        )
    layout = dataset_layout(root)
    out = []
    for f in files:
        full = f.resolve()
        pid, camid = parse_ids(f.relative_to(root), full)
        mod = modality
        if layout is not None:
            mod = layout_modality(layout[1], full.relative_to(layout[0])) or modality
            if layout[1] == "regdb":
                camid = _REGDB_CAMID[mod]
        out.append(Record(str(full), pid, camid, mod))  # type: ignore[arg-type]
    return out


def _folder_of(records: list[Record], modality: str, p: Path) -> tuple[list[Record], str]:
    kept = [r for r in records if r.modality == modality]
    skipped = len(records) - len(kept)
    if not skipped:
        return kept, ""
    root, layout = dataset_layout(p)  # type: ignore[misc]  # only a layout gives other modalities
    other = "infrared" if modality == "visible" else "visible"
    cams = sorted({r.camid for r in records if r.modality != modality})
    where = f"{LAYOUT_NAMES[layout]} layout of {root}"
    if not kept:
        raise DatasetError(
            f"{p}: holds {other} images only (in the {where}), not {modality} ones; "
            f"--modality {modality} contradicts the layout"
        )
    return kept, (
        f"skipped {skipped} {other} image(s) of {p} (cameras {', '.join(map(str, cams))} are {other} "
        f"in the {where}); kept {len(kept)} {modality} ones"
    )


def collect_records(source: str | os.PathLike, modality: str) -> tuple[list[Record], str]:
    """Records of ``modality`` from a folder or a CSV manifest, and a note on what was skipped."""
    p = Path(source).expanduser()
    if p.is_dir():
        return _folder_of(folder_records(p, modality), modality, p)
    if p.is_file() and p.suffix.lower() == ".csv":
        from vireid.data.datasets.manifest import read_manifest

        records = read_manifest(p)
        kept = [r for r in records if r.modality == modality]
        if not kept:
            raise DatasetError(
                f"{p}: the manifest lists no {modality} images ({len(records)} rows of the other modality)"
            )
        skipped = len(records) - len(kept)
        return kept, (f"skipped {skipped} row(s) of the other modality in {p}" if skipped else "")
    if p.is_file():
        raise DatasetError(f"{p}: expected a folder of images or a CSV manifest (.csv)")
    raise DatasetError(f"{p}: no such folder or manifest")
