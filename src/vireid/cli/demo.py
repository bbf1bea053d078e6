"""``vireid demo`` (``make demo``): train a small DEEN on the synthetic benchmark on CPU.

Generates (once) the synthetic SYSU-MM01-layout dataset, evaluates the untrained model with
the full protocol, trains it, evaluates the best checkpoint and prints both next to each
other; see :mod:`vireid.engine.demo` for the steps and the run folder.
"""

from __future__ import annotations

import argparse

from vireid.cli._common import declare, integer
from vireid.core.params import MAX_WORKERS
from vireid.utils.outputs import DEMO_FOLDER
from vireid.utils.paths import shown

DEFAULT_CONFIG = "synthetic"
DEFAULT_OUT = "runs/demo"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo",
        help="train and evaluate a small DEEN on the synthetic benchmark (CPU)",
        description="Generate (once) the synthetic SYSU-MM01-layout dataset, train a small "
        "DEEN on CPU and evaluate it with the full protocol.",
    )
    p.add_argument(
        "--config", default=DEFAULT_CONFIG, help="demo config, a shipped name or a YAML path (default: %(default)s)"
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help="run folder (default %(default)s; a previous demo run there is replaced -- only the files it "
        "wrote --, any other non-empty folder refused)",
    )
    p.add_argument(
        "--workers",
        type=integer(1, MAX_WORKERS),
        default=2,
        help="processes for dataset generation (default %(default)s)",
    )
    declare(
        p,
        outputs={"out": DEMO_FOLDER},
        inputs={"config": "config"},
        example=("demo", "--config", "{config}", "data.root={dataset}", "--out", "{out}", "--workers", "1"),
        overwrite_help="accepted for uniformity: the demo replaces only a folder an earlier demo wrote, and "
        "never deletes files it did not write",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.config import load_config
    from vireid.engine.demo import comparison_table, run_demo

    cfg = load_config(args.config, args.overrides)
    result = run_demo(cfg, args.out, workers=args.workers)
    trained = result.trained.summary
    print(
        "\nSYSU-MM01 protocol on the synthetic benchmark (all-search, single-shot, infrared -> visible), "
        "mean of 10 trials:\n"
    )
    print(comparison_table({"untrained": result.untrained["mean"], "trained DEEN": trained["mean"]}))
    pictures = [n for n in ("ranking.png", "cmc.png", "curves.png") if (result.out / n).is_file()]
    print(
        f"\nrun folder: {shown(result.out)}  (config.yaml, checkpoints/, metrics.json, metrics.jsonl"
        f"{''.join(', ' + n for n in pictures)})"
    )
    print(f"training {trained['train_seconds'] / 60:.1f} min, whole demo {result.seconds / 60:.1f} min")
    return 0
