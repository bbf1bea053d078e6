"""``vireid convert``: an authors' DEEN or AGW ``*.t`` checkpoint -> vireid's safetensors format.

Example::

    vireid convert --official sysu_deen_p4_n6_lr_0.1_seed_0_best.t --variant default --out deen_sysu.safetensors
    vireid convert --official sysu_agw_p4_n8_lr_0.1_seed_0_best.t --out agw_sysu.safetensors

The format is recognised from the keys (``--arch auto``: DEEN has MFA/DEE blocks; each format
registers with its model, :mod:`vireid.models.authors`), and DEEN's variant too unless
``--variant`` is given.  The output holds the weights and
the architecture kwargs (JSON metadata); load it with ``vireid.models.DEEN.from_checkpoint(path)`` /
``AGW.from_checkpoint(path)`` or ``vireid.load_model(path)``.  Having no run config, it is
embedded at the authors' test size, 384 x 144 (:data:`vireid.inference.loading.DEFAULT_SIZE`), like
the ``*.t`` file itself.  The input is read with ``torch.load(weights_only=True)`` (numpy
scalars/arrays allowed), never unpickled freely.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vireid.cli._common import declare, integer
from vireid.utils.outputs import CHECKPOINT
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "convert",
        help="convert an authors' DEEN or AGW checkpoint (*.t) to vireid's safetensors format",
        description="Convert an authors' checkpoint (*.t from DEEN's or AGW's train.py) to vireid's "
        "safetensors format (weights + architecture kwargs); load it with DEEN.from_checkpoint / AGW.from_checkpoint.",
    )
    p.add_argument(
        "--official",
        required=True,
        type=Path,
        metavar="PATH",
        help="checkpoint saved by the authors' train.py ({'net': state_dict, ...})",
    )
    p.add_argument(
        "--arch",
        default="auto",
        help="the model whose authors' format the file is in: deen, agw or a plugin's "
        "(default: auto, recognised from the keys)",
    )
    p.add_argument(
        "--variant",
        choices=("default", "regdb"),
        default=None,
        help="DEEN variant: default (SYSU-MM01, LLCM) or regdb (no MFA3 / layer4); default: inferred from the keys",
    )
    p.add_argument(
        "--gem",
        choices=("on", "off"),
        default=None,
        help="AGW: GeM pooling (default: on with non-local blocks, as their --method agw; "
        "off without, as --method base)",
    )
    p.add_argument(
        "--num-classes",
        type=integer(1),
        default=None,
        help="expected number of training identities (default: inferred from the classifier)",
    )
    p.add_argument("--out", required=True, type=Path, metavar="PATH", help="output .safetensors file")
    declare(
        p,
        outputs={"out": CHECKPOINT},
        inputs={"official": "authors' checkpoint (--official)"},
        example=("convert", "--official", "{official}", "--out", "{out}"),
    )
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.models.authors import convert_authors_checkpoint

    gem = None if args.gem is None else args.gem == "on"
    model = convert_authors_checkpoint(
        args.official, args.out, arch=args.arch, variant=args.variant, gem=gem, num_classes=args.num_classes
    )
    n = sum(p.numel() for p in model.parameters())
    what = " ".join(f"{k}={v}" for k, v in model.config.items() if k in ("variant", "non_local", "gem"))
    print(
        f"wrote {shown(args.out)}: {type(model).__name__} {what} num_classes={model.num_classes} "
        f"({n / 1e6:.2f}M parameters)"
    )
    return 0
