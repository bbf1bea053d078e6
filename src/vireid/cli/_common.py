"""Argument helpers shared by the commands that load a model (extract, index build, search,
export, visualize attention).  Private to :mod:`vireid.cli`."""

from __future__ import annotations

import argparse

from vireid.errors import VireidError


def input_size(text: str) -> tuple[int, int]:
    """``"384x144"`` -> (384, 144)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW (e.g. 384x144), got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return h, w


def modality(text: str) -> str:
    """``--modality``: any accepted name, any case (``IR``, ``thermal``, ``RGB``) -> visible | infrared."""
    from vireid.inference.model import modality_name

    try:
        return modality_name(text)
    except VireidError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_model_args(p: argparse.ArgumentParser, checkpoint_required: bool = True) -> None:
    p.add_argument(
        "--checkpoint",
        required=checkpoint_required,
        metavar="CKPT",
        help="run folder, .safetensors checkpoint (engine or Model.save) or an authors' DEEN/AGW .t file",
    )
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: 64)")
    p.add_argument(
        "--input-size",
        type=input_size,
        default=None,
        metavar="HxW",
        help="override the checkpoint's input size (default: from its config, else 384x144, the authors')",
    )


def model_from_args(args: argparse.Namespace, checkpoint: str | None = None):
    """The :class:`vireid.inference.InferenceModel` of ``--checkpoint`` (or ``checkpoint``)."""
    from vireid.inference import load_model

    if args.batch_size < 1:
        raise VireidError(f"--batch-size must be >= 1, got {args.batch_size}")
    return load_model(checkpoint or args.checkpoint, args.device, batch_size=args.batch_size, img_size=args.input_size)
