"""``vireid index build``: embed a gallery of one modality into a searchable index folder.

    vireid index build --checkpoint runs/deen_sysu --gallery data/gallery_rgb --modality visible \\
        --out gallery.index [--backend exact|faiss-flat|faiss-ivf] [--nlist N]

The folder holds ``feats.safetensors``, ``index.json`` (entries with path/pid/camid, the
modality and the model identity: checkpoint SHA-256, config SHA-256, descriptor size) and,
for faiss backends, ``faiss.index``.  It is written into a temporary sibling folder and moved
into place only when complete; an existing index at ``--out`` is replaced, any other
non-empty folder is refused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from vireid.cli._common import add_model_args, model_from_args
from vireid.errors import VireidError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("index", help="build a cross-modal gallery index (vireid index build ...)",
                              description="Gallery indexes for `vireid search`.")
    sub = p.add_subparsers(dest="index_command", metavar="ACTION", parser_class=type(p))
    sub.required = True
    b = sub.add_parser("build", help="embed a gallery folder or manifest into an index folder",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(b)
    b.add_argument("--gallery", required=True, metavar="DIR_OR_MANIFEST",
                   help="folder of gallery images (searched recursively) or a CSV manifest")
    b.add_argument("--modality", required=True, choices=("visible", "infrared"), help="the gallery's modality")
    b.add_argument("--out", required=True, type=Path, metavar="INDEX_DIR")
    b.add_argument("--backend", default="exact", choices=("exact", "faiss-flat", "faiss-ivf"),
                   help="exact (default, matrix product), faiss-flat (exact) or faiss-ivf (approximate)")
    b.add_argument("--nlist", type=int, default=0, help="IVF lists (default: 4 sqrt(N))")
    b.add_argument("--no-progress", action="store_true")
    return p


def write_index_dir(index, out: Path) -> None:
    """Save ``index`` into ``out`` all-or-nothing (temporary sibling folder, then rename)."""
    if out.exists() and not out.is_dir():
        raise VireidError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "index.json").is_file():
        raise VireidError(f"{out}: exists, is not empty and is not a vireid index; refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
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


def run(args: argparse.Namespace) -> int:
    from vireid.inference import build_gallery_index, collect_records

    records, note = collect_records(args.gallery, args.modality)  # before loading the model: fail fast
    if note:
        print(note, file=sys.stderr)
    index = build_gallery_index(model_from_args(args), records, args.modality, backend=args.backend,
                                nlist=args.nlist, progress=not args.no_progress)
    write_index_dir(index, args.out)
    print(f"wrote {args.out}: {len(records)} {args.modality} images, descriptors of size {index.feats.shape[1]}, "
          f"backend {args.backend}")
    return 0
