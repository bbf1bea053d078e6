"""``vireid test --run RUN_DIR`` (or ``--checkpoint PATH [--config CONFIG]``): the dataset's full protocol.

All 10 trials (SYSU-MM01, LLCM; RegDB: the configured trial), both directions where the
dataset has them; prints the metrics tables and writes ``metrics.json`` (fractions, per
trial and mean) atomically into ``--out`` (default: ``RUN/test/``; the training run's own
``metrics.json`` is left as it is).  ``--run`` takes the run's ``config.yaml`` and its best
checkpoint; ``--config`` / ``--checkpoint`` replace either.  The model is rebuilt from the
checkpoint's metadata; the config gives the data and evaluation options.  See
:mod:`vireid.engine.testing`.
"""

from __future__ import annotations

import argparse
import sys

from vireid.cli._common import declare
from vireid.utils.outputs import TEST_FOLDER
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "test",
        help="evaluate a run's checkpoint with the dataset's full protocol",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--run",
        default=None,
        metavar="RUN_DIR",
        help="a training run folder: its config.yaml and best checkpoint are used",
    )
    p.add_argument(
        "--config",
        default=None,
        help="config (a shipped name, see `vireid configs`, or a YAML path): data and evaluation "
        "(default: the run's config.yaml, else the config the checkpoint carries)",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (e.g. data.root=...)")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="a .safetensors file, a checkpoints/ folder, a run folder or the authors' DEEN .t file "
        "(default: the best checkpoint of --run)",
    )
    p.add_argument("--out", default=None, help="folder for metrics.json (default: RUN_DIR/test)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--rerank", action="store_true", help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) before scoring"
    )
    p.add_argument(
        "--viz",
        action="store_true",
        help="also write ranks.png, tsne.png, distances.png and the features files of the first split into --out",
    )
    p.add_argument(
        "--save-features",
        action="store_true",
        help="write every split's query/gallery features files into OUT/features/ (for vireid "
        "evaluate and vireid visualize)",
    )
    declare(
        p,
        outputs={"out": TEST_FOLDER},
        inputs={"run": "run folder (--run)", "config": "config", "checkpoint": "checkpoint"},
        adds_outputs=("viz", "save_features"),
        example=("test", "--run", "{run}", "--out", "{out}", "--viz", "--save-features"),
    )
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.engine.evaluator import tables
    from vireid.engine.testing import run_test, test_inputs

    cfg, checkpoint = test_inputs(args.run, args.config, args.checkpoint, args.overrides)
    result = run_test(
        cfg,
        checkpoint,
        out=args.out,
        device=args.device,
        rerank=args.rerank,
        viz=args.viz,
        save_features=args.save_features,
    )
    if result.is_main:
        for text in result.warnings:
            print(f"warning: {shown(text)}", file=sys.stderr)
        print(tables(result.evaluations))
        print(f"metrics written to {shown(result.written['metrics'])}")
        features = [p for n, p in result.written.items() if "/" in n]
        for name, path in result.written.items():
            if name != "metrics" and "/" not in name:
                print(f"{name}: {shown(path)}")
        if features:
            print(f"features files: {len(features)} in {shown(features[0].parent.parent)}")
    return 0
