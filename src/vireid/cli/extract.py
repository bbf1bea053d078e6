"""``vireid extract``: descriptors of a folder of images (or a CSV manifest) -> a features file.

    vireid extract --checkpoint runs/deen_sysu --input data/my_ir_crops --modality infrared \\
        --out feats_ir.safetensors [--batch-size 64] [--device cpu]

The features file (:func:`vireid.evaluation.features.save_features`) holds the L2-normalised
descriptors, pids and camids (parsed from ``.../{cam}/{pid}/image`` folder names, -1 when
absent; from the manifest's columns for a CSV) and the image paths; its metadata records the
model identity.  Written atomically, only after every image was embedded
(:func:`vireid.inference.extract_features_file`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vireid.cli._common import add_model_args, declare, modality, model_from_args
from vireid.utils.outputs import FEATURES, check_file
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "extract",
        help="embed a folder of images (or a manifest) into a features file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p)
    p.add_argument(
        "--input",
        required=True,
        metavar="DIR_OR_MANIFEST",
        help="folder of images (searched recursively) or a CSV manifest",
    )
    p.add_argument(
        "--modality",
        required=True,
        type=modality,
        metavar="MODALITY",
        help="visible or infrared (any case; also vis, rgb, ir, nir, thermal)",
    )
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="features file (.safetensors)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    declare(
        p,
        outputs={"out": FEATURES},
        inputs={"checkpoint": "checkpoint", "input": "input"},
        example=(
            "extract",
            "--checkpoint",
            "{checkpoint}",
            "--input",
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
    from vireid.inference import collect_records, extract_features_file
    from vireid.utils import notes

    check_file(args.out, FEATURES)  # before any work
    records, note = collect_records(args.input, args.modality)  # before loading the model: fail fast
    if note:
        notes.emit(shown(note))
    feats = extract_features_file(
        model_from_args(args), records, args.modality, args.out, source=args.input, progress=not args.no_progress
    )
    print(f"wrote {shown(args.out)}: {feats.shape[0]} {args.modality} descriptors of size {feats.shape[1]}")
    return 0
