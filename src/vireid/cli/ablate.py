"""``vireid ablate``: train and test every combination of a config grid (several seeds each).

    vireid ablate --config BASE --grid optim.lr=0.1,0.01 loss.cpm.weight=0,0.8 \\
        --set train.epochs=2 data.root=data/x --seeds 0 1 [--mode each] [--jobs 2] [--out DIR] [--resume]

``--grid`` takes the axes (``key=v1,v2,...``, two values or more; ``a+b=[x,y],[z,w]`` links keys
into one factor; ``key:Question?=v1:Label 1,v2:Label 2`` names the axis and its values for the
report and its forest plot, changing nothing else); ``--set`` takes the fixed overrides applied to
the base config (``key=value``).
Both may be repeated.  A ``key=value`` anywhere else is refused: it could be either.
``--resume`` continues an interrupted ablation in ``--out``: finished runs are reused, the others
continue from their last checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vireid.cli._common import declare, integer, seed
from vireid.config import load_config
from vireid.core.params import MAX_WORKERS
from vireid.engine.ablation import parse_grid, report_markdown, run_ablation
from vireid.utils.outputs import ABLATION_FOLDER
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "ablate",
        help="train/test a grid of config variants on several seeds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, help="base config (a shipped name or a YAML path)")
    p.add_argument(
        "--grid",
        nargs="+",
        required=True,
        action="extend",
        metavar="KEY=V1,V2",
        help="grid axes: a dotted config key and two or more comma-separated values (YAML); "
        "KEY:TITLE=VALUE:LABEL,... names the axis and its values in the report",
    )
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        action="extend",
        metavar="KEY=VALUE",
        dest="overrides",
        help="fixed overrides of the base config, e.g. --set train.epochs=2 data.root=data/x",
    )
    p.add_argument("--seeds", nargs="+", type=seed, default=[0, 1], help="seeds per combination (default 0 1)")
    p.add_argument(
        "--mode",
        choices=["product", "each"],
        default="product",
        help="product: every combination; each: one axis at a time against the base config",
    )
    p.add_argument(
        "--jobs",
        type=integer(1, MAX_WORKERS),
        default=1,
        help="runs trained at once, in worker processes with one thread each (default 1)",
    )
    p.add_argument("--out", default="runs/ablation", help="output folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the ablation in --out: reuse its finished runs, resume the others",
    )
    p.set_defaults(_ambiguous_overrides=True)
    declare(
        p,
        outputs={"out": ABLATION_FOLDER},
        inputs={"config": "config"},
        example=(
            "ablate",
            "--config",
            "{config}",
            "--grid",
            "eval.flip=true,false",  # two cells; a value listed twice is refused
            "--set",
            "data.root={dataset}",
            "train.epochs=1",
            "--seeds",
            "0",
            "--out",
            "{out}",
        ),
        rerun=("--resume",),
    )
    return p


def run(args: argparse.Namespace) -> int:
    base = load_config(args.config, args.overrides)
    grid = parse_grid(args.grid)
    rows = run_ablation(
        base, grid, Path(args.out), seeds=args.seeds, mode=args.mode, jobs=args.jobs, resume=args.resume
    )
    print(report_markdown(rows))
    out = Path(args.out)
    print(f"written: {', '.join(shown(out / n) for n in ('ablation.md', 'summary.json', 'ablation.png'))}")
    return 0
