"""``vireid evaluate``: metrics of saved query/gallery features under an official protocol.

    vireid evaluate --query q.safetensors --gallery g0.safetensors [g1.safetensors ...] \\
        --protocol sysu [--metric euclidean|cosine|sqeuclidean|inner] [--rerank] [--out metrics.json]

Several gallery files are several trials (e.g. the 10 random SYSU-MM01 gallery draws):
each is evaluated against the same query set and the table shows every trial and the
mean ± std.  ``metrics.json`` holds the mean ``rank1, rank5, rank10, rank20, mAP, mINP``
as fractions, their std, and the per-trial values (:mod:`vireid.evaluation.files`).
"""

from __future__ import annotations

import argparse
import sys

from vireid.cli._common import declare, integer
from vireid.evaluation import PROTOCOLS, format_table
from vireid.evaluation.distance import DISTANCES
from vireid.utils.outputs import EVALUATION
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate saved features under an official protocol",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--query", required=True, metavar="FILE", help="query features (.safetensors)")
    p.add_argument(
        "--gallery", required=True, nargs="+", metavar="FILE", help="gallery features; several files = several trials"
    )
    p.add_argument("--protocol", required=True, choices=PROTOCOLS)
    p.add_argument(
        "--metric",
        default="euclidean",
        choices=DISTANCES,
        help="distance (default: euclidean; inner: -q.g, the distance vireid test scores)",
    )
    p.add_argument(
        "--rerank", action="store_true", help="k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, lambda=0.3)"
    )
    p.add_argument("--max-rank", type=integer(1), default=20, help="length of the CMC curve (default: 20)")
    p.add_argument("--out", metavar="JSON", help="write the metrics here (atomically)")
    p.add_argument("--style", default="markdown", choices=("markdown", "plain"), help="table style")
    declare(
        p,
        outputs={"out": EVALUATION},
        inputs={"query": "query features file", "gallery": "gallery features file"},
        example=("evaluate", "--query", "{query}", "--gallery", "{gallery}", "--protocol", "sysu", "--out", "{out}"),
    )
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.evaluation.files import evaluate_files

    done = evaluate_files(
        args.query,
        args.gallery,
        protocol=args.protocol,
        metric=args.metric,
        rerank=args.rerank,
        max_rank=args.max_rank,
        out=args.out,
    )
    for text in done.warnings:
        print(f"warning: {shown(text)}", file=sys.stderr)
    print(format_table(done.results, names=done.names, style=args.style))
    return 0
