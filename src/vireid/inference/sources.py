"""Image lists for ``vireid extract`` / ``vireid index build``: a folder of images or a CSV manifest.

A folder is searched recursively for image files (:data:`vireid.data.image.IMAGE_EXTENSIONS`,
hidden files skipped), in sorted path order.  Identities and cameras are parsed from the
layout ``.../{cam}/{pid}/image.jpg`` used by SYSU-MM01 (``cam3/0001/0001.jpg``): the parent
folder is the pid when it is a number, the grandparent the camera when it is a number or
``cam<N>`` -- also above the folder given (``data/sysu/cam3`` has camera 3); otherwise the
value is -1 (unknown).

A folder inside a dataset's layout (:func:`dataset_layout`: a root that a registered dataset class
recognises, :meth:`~vireid.data.datasets.base.VIReIDDataset.detect` -- SYSU-MM01, LLCM, RegDB or a
plugin's -- found at or above it) takes each camera's number and modality from that class
(:meth:`~vireid.data.datasets.base.VIReIDDataset.folder_camera`): ``--modality``
then selects those images, the others are skipped with a note, and a folder holding none of
them is refused (``cam3`` of SYSU-MM01 is infrared, whatever the command line says).  A
``.csv`` file is read as a manifest (:func:`vireid.data.datasets.manifest.read_manifest`) and
only its rows of the requested modality are kept.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vireid.data.datasets.base import VIReIDDataset
from vireid.data.image import is_image_file
from vireid.data.records import Record
from vireid.errors import DatasetError
from vireid.utils.paths import file_problem

_CAM = re.compile(r"^(?:cam(?:era)?[_-]?)?(\d+)$", re.IGNORECASE)


_CAM_DIR = re.compile(r"^cam(\d+)$", re.IGNORECASE)


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


def dataset_layout(folder: str | os.PathLike) -> tuple[Path, type[VIReIDDataset]] | None:
    """``(root, dataset class)`` of the dataset layout ``folder`` lies in: it or a folder above it is
    a root that a registered dataset class recognises (:meth:`VIReIDDataset.detect`), or a synthetic
    dataset's (``synth.json`` naming its layout); else None."""
    from vireid.data.datasets import DATASETS
    from vireid.data.synth import read_meta

    start = Path(folder).resolve()
    classes = [e.obj for e in DATASETS.entries()]
    for root in (start, *start.parents):
        meta = read_meta(root, strict=False)  # a folder above: a stray synth.json stops nothing
        if meta is not None and meta.get("layout") in DATASETS:
            return root, DATASETS.get(meta["layout"])
        for cls in classes:
            if cls.detect(root):
                return root, cls
    return None


def _image_files(root: Path) -> list[Path]:
    """The image files under ``root``, sorted, hidden names left out; linked folders are followed
    (a gallery assembled from links to camera folders), each real folder once (a link back up
    the tree ends there)."""
    files, seen = [], set()
    for d, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(d)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        files += [Path(d) / f for f in names if is_image_file(f) and not f.startswith(".")]
    return sorted(f for f in files if not any(part.startswith(".") for part in f.relative_to(root).parts))


def folder_records(root: str | os.PathLike, modality: str) -> list[Record]:
    """Records of every image under ``root`` (modality from the dataset layout where there is one,
    else ``modality``)."""
    root = Path(root)
    files = _image_files(root)
    if not files:
        raise DatasetError(
            f"{root}: no images found (looked recursively for .jpg, .jpeg, .png, .bmp, .tif, .tiff, .webp files)"
        )
    layout = dataset_layout(root)
    out = []
    for f in files:
        problem = file_problem(f, "image file")  # before resolving: a link to nothing is named as the link
        if problem:
            raise DatasetError(f"{f}: {problem}")
        full = f.resolve()
        pid, camid = parse_ids(f.relative_to(root), full)
        mod = modality
        seen = root.resolve() / f.relative_to(root)  # as reached (through a linked folder): inside the layout
        found = layout[1].folder_camera(seen.relative_to(layout[0])) if layout is not None else None
        if found is not None:
            camid, mod = found
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
    where = f"{layout.title} layout of {root}"
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
    problem = file_problem(p, "folder or manifest")
    raise DatasetError(f"{p}: {'no such folder or manifest' if problem.endswith('not found') else problem}")
