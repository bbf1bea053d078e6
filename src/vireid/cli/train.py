"""``vireid train --config CONFIG [key=value ...] [--resume] [--out RUN_DIR] [--device auto|cpu|cuda]``.

``CONFIG`` is a shipped config's name (``vireid configs`` lists them) or a YAML file.
Multi-GPU / multi-node: launch the same command with ``torchrun`` (see
:mod:`vireid.core.distributed`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vireid.cli._common import declare
from vireid.utils.outputs import RUN_FOLDER
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train a model from a YAML config",
        description="Train a model from a YAML config (dotted key=value overrides).",
    )
    p.add_argument("--config", required=True, help="a shipped config's name (see `vireid configs`) or a YAML file")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=0.05")
    p.add_argument("--out", default=None, help="run folder (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="overrides train.device")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    declare(
        p,
        outputs={"out": RUN_FOLDER},
        inputs={"config": "config"},
        example=("train", "--config", "{config}", "data.root={dataset}", "--out", "{out}", "--quiet", "train.epochs=1"),
        rerun=("--resume",),
    )
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.config import load_config
    from vireid.core import distributed
    from vireid.engine.run import train

    cfg = load_config(args.config, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    try:
        result = train(cfg, out, resume=args.resume, device=args.device, quiet=args.quiet)
    finally:
        distributed.cleanup()
    if not args.quiet:
        m = result.summary["mean"]
        print(
            f"run folder: {shown(out)}\nmean: Rank-1 {100 * m['rank1']:.2f}%  mAP {100 * m['mAP']:.2f}%  "
            f"mINP {100 * m['mINP']:.2f}%"
        )
    return 0
