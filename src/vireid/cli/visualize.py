"""``vireid visualize``: pictures for papers, PNG, PDF or SVG by the suffix of ``--out`` (needs
matplotlib, the ``[viz]`` extra).

    vireid visualize ranks --query q.safetensors --gallery g.safetensors --out ranks.png [--topk 10] \\
        [--protocol sysu|regdb|llcm|plain] [--metric cosine|euclidean|sqeuclidean|inner] [--rerank]
    vireid visualize tsne --features q.safetensors g.safetensors --out tsne.png
    vireid visualize distances --features q.safetensors g.safetensors --out distances.png
    vireid visualize attention --checkpoint CKPT --image img.jpg --modality infrared --out att.png
    vireid visualize cmc --metrics RUN/metrics.json --out cmc.pdf
    vireid visualize curves --log RUN/metrics.jsonl --out curves.pdf

Features files come from ``vireid extract`` or ``vireid test --viz``; rank lists need the image
paths they store, t-SNE and histograms their modality.  A rank list obeys the protocol's rules
and uses the distance the files record (``vireid test --viz`` files: its protocol and scored
distance, so the picture equals the test run's), else ``plain`` and ``inner``; the options
override them (:mod:`vireid.viz.files`).  ``attention`` draws ABD-Net CAM/PAM maps (DEEN with
ABD options) or ViT attention rollout (DEEN-ViT) over the input image.  ``cmc`` draws the CMC
curves of a ``metrics.json`` (``vireid train``, ``test``), one line per direction; ``curves`` the
training curves of a ``metrics.jsonl`` (loss terms, periodic evaluation, LR).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vireid.cli._common import add_model_args, declare, integer, modality, model_from_args, positive
from vireid.evaluation.distance import DISTANCES
from vireid.evaluation.protocols import PROTOCOLS
from vireid.utils.outputs import PICTURE, check_file
from vireid.utils.paths import shown

#: each picture's inputs (option dest -> what) and a minimal invocation (:func:`vireid.cli._common.declare`)
PICTURES = {
    "ranks": (
        {"query": "query features file", "gallery": "gallery features file"},
        ("visualize", "ranks", "--query", "{query}", "--gallery", "{gallery}", "--topk", "2", "--out", "{out}"),
    ),
    "tsne": (
        {"features": "features file"},
        ("visualize", "tsne", "--features", "{query}", "{gallery}", "--perplexity", "2", "--out", "{out}"),
    ),
    "distances": ({"features": "features file"}, ("visualize", "distances", "--features", "{query}", "--out", "{out}")),
    "attention": (
        {"checkpoint": "checkpoint", "image": "image"},
        (
            "visualize",
            "attention",
            "--checkpoint",
            "{checkpoint}",
            "--image",
            "{image}",
            "--modality",
            "visible",
            "--out",
            "{out}",
        ),
    ),
    "cmc": ({"metrics": "metrics file"}, ("visualize", "cmc", "--metrics", "{metrics}", "--out", "{out}")),
    "curves": ({"log": "training log"}, ("visualize", "curves", "--log", "{log}", "--out", "{out}")),
}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "visualize",
        help="rank lists, t-SNE, distance histograms, attention maps, CMC and training curves",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="picture", metavar="PICTURE", parser_class=type(p))
    sub.required = True
    r = sub.add_parser("ranks", help="each query with its top-k gallery images (green: correct, red: wrong)")
    r.add_argument("--query", required=True, type=Path, metavar="FILE", help="query features file")
    r.add_argument("--gallery", required=True, type=Path, metavar="FILE", help="gallery features file")
    r.add_argument("--topk", type=integer(1), default=10)
    r.add_argument("--num-queries", type=integer(1), default=5, help="queries drawn, evenly spread (default: 5)")
    r.add_argument(
        "--query-index",
        type=integer(0),
        nargs="+",
        default=None,
        metavar="I",
        help="draw these queries (0-based rows of the query file) instead",
    )
    r.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=None,
        help="whose rules decide what a query may match (default: recorded in the files, else plain)",
    )
    r.add_argument(
        "--metric",
        choices=DISTANCES,
        default=None,
        help="distance (default: recorded in the files, else inner, the one vireid test scores)",
    )
    r.add_argument(
        "--rerank",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="k-reciprocal re-ranking (default: recorded in the files, else off)",
    )
    for name, hlp in (
        ("tsne", "t-SNE of descriptors (colour: identity, marker: modality)"),
        ("distances", "intra/inter-identity distance histograms, within/cross modality"),
    ):
        s = sub.add_parser(name, help=hlp)
        s.add_argument(
            "--features",
            required=True,
            nargs="+",
            type=Path,
            metavar="FILE",
            help="features files (e.g. a visible and an infrared one)",
        )
        if name == "tsne":
            s.add_argument("--max-ids", type=integer(1), default=20, help="identities drawn (default: 20)")
            s.add_argument("--perplexity", type=positive, default=30.0, help="t-SNE perplexity, > 0 (default: 30)")
    a = sub.add_parser("attention", help="CAM/PAM or ViT attention-rollout maps over an image")
    add_model_args(a)
    a.add_argument("--image", required=True, type=Path, metavar="IMAGE")
    a.add_argument(
        "--modality",
        required=True,
        type=modality,
        metavar="MODALITY",
        help="visible or infrared (any case; also vis, rgb, ir, nir, thermal)",
    )
    a.add_argument("--kind", default="auto", choices=("auto", "abd", "rollout"))
    c = sub.add_parser("cmc", help="CMC curves (rank 1..20) of a metrics.json, one line per direction")
    c.add_argument("--metrics", required=True, type=Path, metavar="FILE", help="a metrics.json of vireid train or test")
    c.add_argument("--title", default=None)
    t = sub.add_parser("curves", help="training curves of a metrics.jsonl: loss terms, evaluations, LR")
    t.add_argument("--log", required=True, type=Path, metavar="FILE", help="a run's metrics.jsonl")
    t.add_argument("--title", default=None)
    for name, s in sub.choices.items():
        s.add_argument("--out", required=True, type=Path, metavar="PICTURE", help="output picture (.png, .pdf or .svg)")
        inputs, example = PICTURES[name]
        declare(s, outputs={"out": PICTURE}, inputs=inputs, example=example)
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.viz import files

    check_file(args.out, PICTURE)  # before any work (the command's inputs are the policy's)
    if args.picture == "ranks":
        path = files.ranks_picture(
            args.query,
            args.gallery,
            args.out,
            protocol=args.protocol,
            metric=args.metric,
            rerank=args.rerank,
            topk=args.topk,
            num_queries=args.num_queries,
            query_indices=args.query_index,
        )
    elif args.picture == "tsne":
        path = files.tsne_picture(args.features, args.out, perplexity=args.perplexity, max_ids=args.max_ids)
    elif args.picture == "distances":
        path = files.distances_picture(args.features, args.out)
    elif args.picture == "cmc":
        from vireid.viz.cmc import cmc_picture

        path = cmc_picture(args.metrics, args.out, title=args.title)
    elif args.picture == "curves":
        from vireid.viz.curves import curves_picture

        path = curves_picture(args.log, args.out, title=args.title)
    else:
        from vireid.viz.attention import attention_picture

        path = attention_picture(model_from_args(args), str(args.image), args.modality, args.out, kind=args.kind)
    print(f"wrote {shown(path)}")
    return 0
