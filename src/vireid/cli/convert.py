"""``vireid convert``: an authors' DEEN or AGW ``*.t`` checkpoint -> vireid's safetensors format.

Example::

    vireid convert --official sysu_deen_p4_n6_lr_0.1_seed_0_best.t --variant default --out deen_sysu.safetensors
    vireid convert --official sysu_agw_p4_n8_lr_0.1_seed_0_best.t --out agw_sysu.safetensors

The architecture is recognised from the keys (``--arch auto``: DEEN has MFA/DEE blocks),
and DEEN's variant too unless ``--variant`` is given.  The output holds the weights and
the architecture kwargs (JSON metadata); load it with ``vireid.models.DEEN.load(path)`` /
``AGW.load(path)`` or ``vireid.load_model(path)``.  The input is read with
``torch.load(weights_only=True)`` (numpy scalars/arrays allowed), never unpickled freely.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "convert", help="convert an authors' DEEN or AGW checkpoint (*.t) to vireid's safetensors format",
        description="Convert an authors' checkpoint (*.t from DEEN's or AGW's train.py) to vireid's "
                    "safetensors format (weights + architecture kwargs); load it with DEEN.load / AGW.load.",
    )
    p.add_argument("--official", required=True, type=Path, metavar="PATH",
                   help="checkpoint saved by the authors' train.py ({'net': state_dict, ...})")
    p.add_argument("--arch", choices=("auto", "deen", "agw"), default="auto",
                   help="architecture (default: recognised from the keys)")
    p.add_argument("--variant", choices=("default", "regdb"), default=None,
                   help="DEEN variant: default (SYSU-MM01, LLCM) or regdb (no MFA3 / layer4); "
                        "default: inferred from the keys")
    p.add_argument("--gem", choices=("on", "off"), default=None,
                   help="AGW: GeM pooling (default: on with non-local blocks, as their --method agw; "
                        "off without, as --method base)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="expected number of training identities (default: inferred from the classifier)")
    p.add_argument("--out", required=True, type=Path, metavar="PATH", help="output .safetensors file")
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.errors import VireidError
    from vireid.inference.loading import official_keys, infer_official_architecture, infer_official_variant

    keys = official_keys(args.official)
    arch = infer_official_architecture(args.official, keys).lower() if args.arch == "auto" else args.arch
    if arch == "agw":
        from vireid.models.official_agw import load_official_agw

        if args.variant is not None:
            raise VireidError("--variant is a DEEN option; an AGW checkpoint has none")
        gem = None if args.gem is None else args.gem == "on"
        model = load_official_agw(args.official, num_classes=args.num_classes, gem=gem)
        what = f"AGW non_local={model.non_local} gem={model.gem}"
    else:
        from vireid.models.official import load_official_deen

        if args.gem is not None:
            raise VireidError("--gem is an AGW option; a DEEN checkpoint has none")
        variant = args.variant or infer_official_variant(args.official, keys)
        model = load_official_deen(args.official, variant=variant, num_classes=args.num_classes)
        what = f"DEEN variant={variant}"
    model.save(args.out)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: {what} num_classes={model.num_classes} ({n / 1e6:.2f}M parameters)")
    return 0
