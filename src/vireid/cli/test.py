"""``vireid test --config CONFIG --checkpoint PATH [--out DIR]``: the dataset's full protocol.

All 10 trials (SYSU-MM01, LLCM; RegDB: the configured trial), both directions where the
dataset has them; prints the metrics tables and writes ``metrics.json`` (fractions, per
trial and mean) atomically into ``--out`` (default: the checkpoint's run folder).  The model
is rebuilt from the checkpoint's metadata; the config gives the data and evaluation options.
See :mod:`vireid.engine.testing`.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("test", help="evaluate a checkpoint with the dataset's full protocol",
                              description="Evaluate a checkpoint with the dataset's full protocol.")
    p.add_argument("--config", required=True,
                   help="config (a shipped name, see `vireid configs`, or a YAML path): data and evaluation")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (e.g. data.root=...)")
    p.add_argument("--checkpoint", required=True,
                   help="a .safetensors file, a checkpoints/ folder, a run folder or the authors' DEEN .t file")
    p.add_argument("--out", default=None, help="folder for metrics.json (default: the run folder)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    p.add_argument("--rerank", action="store_true",
                   help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) before scoring")
    p.add_argument("--viz", action="store_true",
                   help="also write ranks.png, tsne.png, distances.png and the features files of the first "
                        "split into --out")
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.config import load_config
    from vireid.engine.evaluator import tables
    from vireid.engine.testing import run_test

    cfg = load_config(args.config, args.overrides)
    result = run_test(cfg, args.checkpoint, out=args.out, device=args.device, rerank=args.rerank, viz=args.viz)
    if result.is_main:
        print(tables(result.evaluations))
        print(f"metrics written to {result.written['metrics']}")
        for name, path in result.written.items():
            if name != "metrics":
                print(f"{name}: {path}")
    return 0
