"""``vireid convert``: the DEEN authors' ``*.t`` checkpoint -> vireid's safetensors format.

Example::

    vireid convert --official sysu_deen_p4_n6_lr_0.1_seed_0_best.t --variant default --out deen_sysu.safetensors

The output holds the weights and the architecture kwargs (JSON metadata); load
it with ``vireid.models.DEEN.from_checkpoint(path)``.  Having no run config, it is embedded at
the authors' test size, 384 x 144 (:data:`vireid.inference.loading.DEFAULT_SIZE`), like the
``*.t`` file itself.  The input is read with
``torch.load(weights_only=True)`` (numpy scalars/arrays allowed), never
unpickled freely.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "convert", help="convert the DEEN authors' checkpoint (*.t) to vireid's safetensors format",
        description="Convert the DEEN authors' checkpoint (*.t from their train.py) to vireid's "
                    "safetensors format (weights + architecture kwargs); load it with DEEN.from_checkpoint(path).",
    )
    p.add_argument("--official", required=True, type=Path, metavar="PATH",
                   help="checkpoint saved by the authors' DEEN train.py ({'net': state_dict, ...})")
    p.add_argument("--variant", choices=("default", "regdb"), default="default",
                   help="DEEN variant: default (SYSU-MM01, LLCM) or regdb (no MFA3 / layer4)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="expected number of training identities (default: inferred from the classifier)")
    p.add_argument("--out", required=True, type=Path, metavar="PATH", help="output .safetensors file")
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.models.official import load_official_deen

    model = load_official_deen(args.official, variant=args.variant, num_classes=args.num_classes)
    model.save(args.out)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: DEEN variant={args.variant} num_classes={model.num_classes} "
          f"({n / 1e6:.2f}M parameters)")
    return 0
