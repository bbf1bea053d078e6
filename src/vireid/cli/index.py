"""``vireid index build``: embed a gallery of one modality into a searchable index folder.

    vireid index build --checkpoint runs/deen_sysu --gallery data/gallery_rgb --modality visible \\
        --out gallery.index [--backend exact|faiss-flat|faiss-ivf] [--nlist N]

The folder holds ``feats.safetensors``, ``index.json`` (entries with path/pid/camid, the
modality and the model identity: SHA-256 of its tensors and of its config, descriptor size, the
checkpoint's absolute path) and, for faiss backends, ``faiss.index``.  It is written
all-or-nothing (``GalleryIndex.save``, :mod:`vireid.search.folder`: a temporary sibling folder
moved into place when complete); an existing index at ``--out`` is replaced, any other non-empty
folder is refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vireid.cli._common import add_model_args, declare, integer, modality, model_from_args
from vireid.utils.outputs import INDEX
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "index",
        help="build a cross-modal gallery index (vireid index build ...)",
        description="Gallery indexes for `vireid search`.",
    )
    sub = p.add_subparsers(dest="index_command", metavar="ACTION", parser_class=type(p))
    sub.required = True
    b = sub.add_parser(
        "build",
        help="embed a gallery folder or manifest into an index folder",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(b)
    b.add_argument(
        "--gallery",
        required=True,
        metavar="DIR_OR_MANIFEST",
        help="folder of gallery images (searched recursively) or a CSV manifest",
    )
    b.add_argument("--modality", required=True, type=modality, metavar="MODALITY", help="the gallery's modality")
    b.add_argument("--out", required=True, type=Path, metavar="INDEX_DIR")
    b.add_argument(
        "--backend",
        default="exact",
        choices=("exact", "faiss-flat", "faiss-ivf"),
        help="exact (default, matrix product), faiss-flat (exact) or faiss-ivf (approximate)",
    )
    b.add_argument(
        "--nlist", type=integer(0), default=0, help="IVF lists, faiss-ivf only (default 0: 4 sqrt(N), at most N)"
    )
    b.add_argument("--no-progress", action="store_true")
    declare(
        b,
        outputs={"out": INDEX},
        inputs={"checkpoint": "checkpoint", "gallery": "gallery"},
        example=(
            "index",
            "build",
            "--checkpoint",
            "{checkpoint}",
            "--gallery",
            "{images}",
            "--modality",
            "visible",
            "--out",
            "{out}",
            "--no-progress",
        ),
    )
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.inference import collect_records
    from vireid.inference.extract import build_index_dir
    from vireid.search.folder import check_index_out
    from vireid.search.index import check_nlist
    from vireid.utils import notes

    check_index_out(args.out)  # before any work
    check_nlist(args.backend, args.nlist, option="--nlist")
    records, note = collect_records(args.gallery, args.modality)  # before loading the model: fail fast
    check_nlist(args.backend, args.nlist, len(records), option="--nlist")
    if note:
        notes.emit(shown(note))
    index = build_index_dir(
        model_from_args(args),
        records,
        args.modality,
        args.out,
        gallery=args.gallery,
        backend=args.backend,
        nlist=args.nlist,
        progress=not args.no_progress,
    )
    print(
        f"wrote {shown(args.out)}: {len(records)} {args.modality} images, descriptors of size {index.feats.shape[1]}, "
        f"backend {args.backend}"
    )
    return 0
