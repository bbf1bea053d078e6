"""``vireid test --config CONFIG --checkpoint PATH [--out DIR]``: the dataset's full protocol.

All 10 trials (SYSU-MM01, LLCM; RegDB: the configured trial), both directions where the
dataset has them; prints the metrics tables and writes ``metrics.json`` (fractions, per
trial and mean) atomically into ``--out`` (default: the checkpoint's run folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("test", help="evaluate a checkpoint with the dataset's full protocol",
                              description="Evaluate a checkpoint with the dataset's full protocol.")
    p.add_argument("--config", required=True, help="YAML config the model was trained with")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (e.g. data.root=...)")
    p.add_argument("--checkpoint", required=True,
                   help="a .safetensors file, a checkpoints/ folder or a run folder")
    p.add_argument("--out", default=None, help="folder for metrics.json (default: the run folder)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    p.add_argument("--rerank", action="store_true",
                   help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) before scoring")
    p.add_argument("--viz", action="store_true",
                   help="also write ranks.png, tsne.png and distances.png (first trial) into --out")
    return p


def default_out(checkpoint: Path) -> Path:
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    for p in (folder, *folder.parents):
        if p.name == "checkpoints":
            return p.parent
    return folder


def run(args: argparse.Namespace) -> int:
    from vireid.config import load_config
    from vireid.engine import distributed
    from vireid.engine.checkpoint import resolve_checkpoint
    from vireid.engine.evaluator import tables
    from vireid.engine.run import cpu_threads, evaluate_model, load_dataset, load_for_test, make_context
    from vireid.utils.io import atomic_write_json

    cfg = load_config(args.config, args.overrides)
    ckpt = resolve_checkpoint(args.checkpoint)
    out = Path(args.out) if args.out else default_out(ckpt)
    ctx = make_context(cfg, args.device)
    try:
        with cpu_threads(cfg.train.threads):
            dataset = load_dataset(cfg, ctx)
            model = load_for_test(cfg, ckpt, ctx, dataset)
            results, summary = evaluate_model(model, dataset, cfg, ctx, final=True, rerank=args.rerank)
            pictures = _pictures(model, results, cfg, ctx, out) if args.viz else {}
    finally:
        distributed.cleanup()
    if ctx.dist.is_main:
        summary["checkpoint"] = str(ckpt)
        summary["rerank"] = bool(args.rerank)
        atomic_write_json(out / "metrics.json", summary)
        print(tables(results))
        print(f"metrics written to {out / 'metrics.json'}")
        for name, path in pictures.items():
            print(f"{name}: {path}")
    return 0


def _pictures(model, results, cfg, ctx, out: Path) -> dict:
    """Rank list, t-SNE and distance histograms of the first evaluated split."""
    import numpy as np

    from vireid.config import build
    from vireid.engine.evaluator import extract_features
    from vireid.viz.report import write_test_pictures

    split = results[0][0]
    kw = build.eval_kwargs(cfg)
    qf = extract_features(model, split.query, device=ctx.device, precision=ctx.precision, dist_info=ctx.dist, **kw)
    gf = extract_features(model, split.gallery, device=ctx.device, precision=ctx.precision, dist_info=ctx.dist, **kw)
    if not ctx.dist.is_main:
        return {}
    keep = None
    if split.protocol == "sysu":  # the protocol's camera filter: cam3 queries skip their id in cam2
        qp = np.array([r.pid for r in split.query])
        qc = np.array([r.camid for r in split.query])
        gp = np.array([r.pid for r in split.gallery])
        gc = np.array([r.camid for r in split.gallery])
        keep = ~((gp[None, :] == qp[:, None]) & (qc[:, None] == 3) & (gc[None, :] == 2))
    return write_test_pictures(out, qf, gf, split.query, split.gallery, keep=keep)
