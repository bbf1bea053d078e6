"""``vireid export``: a checkpoint's descriptor for one modality as an ONNX graph.

    vireid export --checkpoint runs/deen_sysu --modality visible --out deen_visible.onnx \\
        [--preprocess-in-graph] [--opset 17]

Input ``images``: float32 (B, 3, H, W) RGB at the model's input size (dynamic batch).
Without ``--preprocess-in-graph`` the caller normalises: ``(x / 255 - mean) / std`` with
ImageNet mean/std; with it, pass raw 0..255 values and the graph normalises (stated in the
model's metadata, ``preprocessing_in_graph``, so nobody normalises twice).  Output
``descriptor``: the L2-normalised descriptor of :meth:`vireid.inference.InferenceModel.embed`.
Export one file per modality (the two modalities have different stems).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vireid.cli._common import add_model_args, declare, integer, modality, model_from_args
from vireid.utils.outputs import ONNX, check_file
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint to ONNX (one modality)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p)
    p.add_argument(
        "--modality",
        required=True,
        type=modality,
        metavar="MODALITY",
        help="visible or infrared (any case; also vis, rgb, ir, nir, thermal)",
    )
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="output .onnx file")
    p.add_argument(
        "--preprocess-in-graph", action="store_true", help="the graph takes raw 0..255 RGB and normalises itself"
    )
    p.add_argument("--opset", type=integer(1), default=17, help="ONNX opset (default: 17)")
    declare(
        p,
        outputs={"out": ONNX},
        inputs={"checkpoint": "checkpoint"},
        example=("export", "--checkpoint", "{checkpoint}", "--modality", "visible", "--out", "{out}"),
    )
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.export.onnx import check_opset

    check_file(args.out, ONNX)  # before loading the model
    check_opset(args.opset, "--opset")
    model = model_from_args(args)
    path = model.export_onnx(args.out, args.modality, preprocess_in_graph=args.preprocess_in_graph, opset=args.opset)
    h, w = model.input_size
    pre = (
        "raw RGB 0..255 (normalised in the graph)"
        if args.preprocess_in_graph
        else "RGB normalised with ImageNet mean/std"
    )
    print(
        f"wrote {shown(path)}: {args.modality} descriptor ({model.descriptor_dim}-d), "
        f"input float32 (batch, 3, {h}, {w}) {pre}"
    )
    return 0
