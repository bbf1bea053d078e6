"""``vireid evaluate``: metrics of saved query/gallery features under an official protocol.

    vireid evaluate --query q.safetensors --gallery g0.safetensors [g1.safetensors ...] \\
        --protocol sysu [--metric euclidean|cosine|sqeuclidean] [--rerank] [--out metrics.json]

Several gallery files are several trials (e.g. the 10 random SYSU-MM01 gallery draws):
each is evaluated against the same query set and the table shows every trial and the
mean ± std.  ``metrics.json`` holds the mean ``rank1, rank5, rank10, rank20, mAP, mINP``
as fractions, their std, and the per-trial values.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vireid.errors import VireidError
from vireid.evaluation import PROTOCOLS, aggregate, evaluate, format_table
from vireid.evaluation.distance import METRICS, pairwise_distance
from vireid.evaluation.features import load_features
from vireid.utils.io import atomic_write_json


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help="evaluate saved features under an official protocol",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--query", required=True, metavar="FILE", help="query features (.safetensors)")
    p.add_argument("--gallery", required=True, nargs="+", metavar="FILE",
                   help="gallery features; several files = several trials")
    p.add_argument("--protocol", required=True, choices=PROTOCOLS)
    p.add_argument("--metric", default="euclidean", choices=METRICS, help="distance (default: euclidean)")
    p.add_argument("--rerank", action="store_true",
                   help="k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, lambda=0.3)")
    p.add_argument("--max-rank", type=int, default=20, help="length of the CMC curve (default: 20)")
    p.add_argument("--out", metavar="JSON", help="write the metrics here (atomically)")
    p.add_argument("--style", default="markdown", choices=("markdown", "plain"), help="table style")
    return p


def run(args: argparse.Namespace) -> int:
    if args.max_rank < 1:
        raise VireidError(f"--max-rank must be >= 1, got {args.max_rank}")
    query = load_features(args.query)
    results = []
    for path in args.gallery:
        gallery = load_features(path)
        dist = pairwise_distance(query.feats, gallery.feats, args.metric)
        if args.rerank:
            from vireid.evaluation.rerank import re_rank

            dist = re_rank(dist, pairwise_distance(query.feats, query.feats, args.metric),
                           pairwise_distance(gallery.feats, gallery.feats, args.metric))
        try:
            results.append(evaluate(dist, query.pids, gallery.pids, query.camids, gallery.camids,
                                    protocol=args.protocol, max_rank=args.max_rank))
        except VireidError as exc:
            raise VireidError(f"{path}: {exc}") from None
    names = [Path(p).name for p in args.gallery]
    print(format_table(results, names=names, style=args.style))
    if args.out:
        agg = aggregate(results)
        out = dict(agg["mean"])
        out.update(std=agg["std"], trials=[dict(t, gallery=str(p)) for t, p in zip(agg["trials"], args.gallery)],
                   num_trials=agg["num_trials"], protocol=args.protocol, metric=args.metric,
                   rerank=bool(args.rerank), query=str(args.query))
        atomic_write_json(args.out, out)
    return 0
