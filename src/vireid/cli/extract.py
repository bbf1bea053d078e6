"""``vireid extract``: descriptors of a folder of images (or a CSV manifest) -> a features file.

    vireid extract --checkpoint runs/deen_sysu --input data/my_ir_crops --modality infrared \\
        --out feats_ir.safetensors [--batch-size 64] [--device cpu]

The features file (:func:`vireid.evaluation.features.save_features`) holds the L2-normalised
descriptors, pids and camids (parsed from ``.../{cam}/{pid}/image`` folder names, -1 when
absent; from the manifest's columns for a CSV) and the image paths; its metadata records the
model identity.  Written atomically, only after every image was embedded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vireid.errors import VireidError


# ----------------------------------------------------------------------------- shared by the
# inference commands (extract, index build, search, export, visualize attention)
def input_size(text: str) -> tuple[int, int]:
    """``"288x144"`` -> (288, 144)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW (e.g. 288x144), got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return h, w


def add_model_args(p: argparse.ArgumentParser, checkpoint_required: bool = True) -> None:
    p.add_argument("--checkpoint", required=checkpoint_required, metavar="CKPT",
                   help="run folder, .safetensors checkpoint (engine or Model.save) or an authors' DEEN/AGW .t file")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: 64)")
    p.add_argument("--input-size", type=input_size, default=None, metavar="HxW",
                   help="override the checkpoint's input size (default: from its config, else 288x144)")


def model_from_args(args: argparse.Namespace, checkpoint: str | None = None):
    from vireid.inference import load_model

    if args.batch_size < 1:
        raise VireidError(f"--batch-size must be >= 1, got {args.batch_size}")
    return load_model(checkpoint or args.checkpoint, args.device, batch_size=args.batch_size,
                      img_size=args.input_size)


def check_out_file(path: Path) -> None:
    if path.is_dir():
        raise VireidError(f"{path}: is a folder; --out must be a file path")


# ----------------------------------------------------------------------------- extract
def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("extract", help="embed a folder of images (or a manifest) into a features file",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(p)
    p.add_argument("--input", required=True, metavar="DIR_OR_MANIFEST",
                   help="folder of images (searched recursively) or a CSV manifest")
    p.add_argument("--modality", required=True, choices=("visible", "infrared"))
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="features file (.safetensors)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.evaluation.features import save_features
    from vireid.inference import collect_records

    check_out_file(args.out)
    records, note = collect_records(args.input, args.modality)
    if note:
        print(note, file=sys.stderr)
    model = model_from_args(args)
    feats = model.embed([r.path for r in records], args.modality, progress=not args.no_progress)
    save_features(args.out, feats, [r.pid for r in records], [r.camid for r in records],
                  paths=[r.path for r in records], modality=args.modality,
                  meta={"model": model.model_id, "input": str(args.input)})
    print(f"wrote {args.out}: {feats.shape[0]} {args.modality} descriptors of size {feats.shape[1]}")
    return 0
