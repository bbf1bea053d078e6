"""``vireid ablate``: train and test every combination of a config grid (several seeds each)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vireid.config import load_config
from vireid.engine.ablation import markdown_table, parse_grid, run_ablation


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ablate", help="train/test a grid of config variants on several seeds",
                              description=__doc__)
    p.add_argument("--config", required=True, help="base YAML config")
    p.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                   help="dotted config key and comma-separated values (YAML)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="seeds per combination (default 0 1)")
    p.add_argument("--mode", choices=["product", "each"], default="product",
                   help="product: every combination; each: one axis at a time against the base config")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs trained at once, in worker processes with one thread each (default 1)")
    p.add_argument("--out", default="runs/ablation", help="output folder")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied to the base config")
    return p


def run(args: argparse.Namespace) -> int:
    base = load_config(args.config, args.overrides)
    grid = parse_grid(args.grid)
    rows = run_ablation(base, grid, Path(args.out), seeds=args.seeds, mode=args.mode,
                        jobs=args.jobs)
    print(markdown_table(rows))
    print(f"written: {Path(args.out) / 'ablation.md'}, {Path(args.out) / 'ablation.png'}")
    return 0
