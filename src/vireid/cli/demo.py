"""``vireid demo`` (``make demo``): train a small DEEN on the synthetic benchmark on CPU.

1. Generate the synthetic SYSU-MM01-layout dataset (cached in ``data/synth-sysu-demo``; see
   :func:`vireid.data.synth.ensure_dataset`).
2. Evaluate the untrained model with the full SYSU-MM01 protocol (all-search,
   single-shot, infrared -> visible, 10 trials).
3. Train a small DEEN with the DEEN recipe (``configs/synthetic.yaml``), evaluate the
   best checkpoint with the full protocol, and print both next to each other.
4. The run folder (``runs/demo``) holds ``config.yaml``, ``checkpoints/``,
   ``metrics.json`` (trained), ``metrics_untrained.json``, ``metrics.jsonl`` and
   ``ranking.png`` (queries and their top-10 visible matches, correct ones in green).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from vireid.data.synth import SynthSummary, ensure_dataset
from vireid.errors import ConfigError

DEFAULT_CONFIG = str(Path(__file__).resolve().parents[3] / "configs" / "synthetic.yaml")
DEFAULT_OUT = "runs/demo"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="train and evaluate a small DEEN on the synthetic benchmark (CPU)",
                              description="Generate (once) the synthetic SYSU-MM01-layout dataset, train a small "
                                          "DEEN on CPU and evaluate it with the full protocol.")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="demo config (default: configs/synthetic.yaml)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.add_argument("--out", default=DEFAULT_OUT, help="run folder (default %(default)s; replaced if it exists)")
    p.add_argument("--workers", type=int, default=2, help="processes for dataset generation (default %(default)s)")
    return p


def prepare_dataset(root: str, layout: str = "sysu", *, workers: int = 2, **params) -> SynthSummary:
    """The demo's synthetic dataset at ``root``, generated only when missing or stale."""
    summary = ensure_dataset(root, layout, workers=workers, **params)
    if summary.cached:
        print(f"using cached synthetic dataset {summary.root} ({summary.num_images} images)")
    else:
        print(f"generated synthetic dataset {summary.root}: {summary.num_images} images of {summary.num_ids} ids "
              f"in {summary.seconds:.1f} s ({summary.images_per_second:.0f} images/s)")
    return summary


def comparison_table(rows: dict[str, dict[str, float]]) -> str:
    metrics = ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP")
    head = ["model", "Rank-1", "Rank-5", "Rank-10", "Rank-20", "mAP", "mINP"]
    body = [[name] + [f"{100 * m[k]:.2f}" for k in metrics] for name, m in rows.items()]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(head)] + [fmt(r) for r in body])


def ranking_picture(results, out: Path, num_queries: int = 6) -> Path | None:
    """Queries (evenly spread) of the first trial with their top-10 gallery matches."""
    try:
        from vireid.viz.ranks import rank_list_figure
    except ImportError:  # matplotlib missing
        return None
    split, _, distmat = results[0]
    qp = np.array([r.pid for r in split.query])
    qc = np.array([r.camid for r in split.query])
    gp = np.array([r.pid for r in split.gallery])
    gc = np.array([r.camid for r in split.gallery])
    keep = None
    if split.protocol == "sysu":  # SYSU-MM01: cam3 queries do not match their own id in cam2
        keep = ~((gp[None, :] == qp[:, None]) & (qc[:, None] == 3) & (gc[None, :] == 2))
    picks = np.linspace(0, len(split.query) - 1, num=min(num_queries, len(split.query))).astype(int)
    return rank_list_figure(distmat.numpy(), [r.path for r in split.query], qp.tolist(),
                            [r.path for r in split.gallery], gp.tolist(), out, topk=10,
                            query_indices=picks.tolist(), keep=keep,
                            title=f"trained model, trial {split.trial}: {split.direction.replace('_', ' ')} "
                                  "(green = same identity)")


def run(args: argparse.Namespace) -> int:
    from vireid.config import load_config
    from vireid.engine.run import cpu_threads

    start = time.perf_counter()
    cfg = load_config(args.config, args.overrides)
    if not cfg.data.synth:
        raise ConfigError(f"{args.config}: the demo needs a synthetic dataset (data.synth)")
    with cpu_threads(cfg.train.threads):
        return _run(args, cfg, start)


def _run(args: argparse.Namespace, cfg, start: float) -> int:
    from vireid.config import build
    from vireid.engine.run import evaluate_model, make_context, seed_everything, train
    from vireid.utils.io import atomic_write_json

    prepare_dataset(cfg.data.root, cfg.data.dataset, workers=args.workers, **cfg.data.synth)
    out = Path(args.out)
    if (out / "checkpoints").is_dir():
        shutil.rmtree(out)  # the demo always starts afresh

    # untrained model: the same initialisation the training run starts from
    ctx = make_context(cfg, None, quiet=True)
    dataset = build.build_dataset(cfg.data)
    num_classes = len({r.pid for r in dataset.train})
    seed_everything(cfg.train.seed)
    untrained = build.build_model(cfg.model, num_classes)
    t0 = time.perf_counter()
    _, before = evaluate_model(untrained, dataset, cfg, ctx, final=True)
    print(f"untrained model: Rank-1 {100 * before['mean']['rank1']:.2f}% over 10 trials "
          f"[{time.perf_counter() - t0:.1f} s]")

    summary = train(cfg, out)
    after = summary["mean"]
    picture = ranking_picture(summary["_results"], out / "ranking.png")
    atomic_write_json(out / "metrics_untrained.json", before)
    total = time.perf_counter() - start
    print(f"\nSYSU-MM01 protocol on the synthetic benchmark (all-search, single-shot, infrared -> visible), "
          f"mean of 10 trials:\n")
    print(comparison_table({"untrained": before["mean"], "trained DEEN": after}))
    print(f"\nrun folder: {out}  (config.yaml, checkpoints/, metrics.json, metrics.jsonl"
          f"{', ranking.png' if picture else ''})")
    print(f"training {summary['train_seconds'] / 60:.1f} min, whole demo {total / 60:.1f} min")
    return 0
