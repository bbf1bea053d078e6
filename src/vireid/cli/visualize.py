"""``vireid visualize``: pictures for papers, as PNG files (needs matplotlib, the ``[viz]`` extra).

    vireid visualize ranks --query q.safetensors --gallery g.safetensors --out ranks.png [--topk 10]
    vireid visualize tsne --features q.safetensors g.safetensors --out tsne.png
    vireid visualize distances --features q.safetensors g.safetensors --out distances.png
    vireid visualize attention --checkpoint CKPT --image img.jpg --modality infrared --out att.png

Features files come from ``vireid extract`` (or ``vireid test``); rank lists need the image
paths they store, t-SNE and histograms their modality.  ``attention`` draws ABD-Net CAM/PAM
maps (DEEN with ABD options) or ViT attention rollout (DEEN-ViT) over the input image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vireid.cli.extract import add_model_args, check_out_file, model_from_args
from vireid.errors import VireidError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("visualize", help="rank lists, t-SNE, distance histograms, attention maps (PNG)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="picture", metavar="PICTURE", parser_class=type(p))
    sub.required = True
    r = sub.add_parser("ranks", help="each query with its top-k gallery images (green: correct, red: wrong)")
    r.add_argument("--query", required=True, type=Path, metavar="FILE", help="query features file")
    r.add_argument("--gallery", required=True, type=Path, metavar="FILE", help="gallery features file")
    r.add_argument("--topk", type=int, default=10)
    r.add_argument("--num-queries", type=int, default=5, help="queries drawn, evenly spread (default: 5)")
    r.add_argument("--query-index", type=int, nargs="+", default=None, metavar="I",
                   help="draw these queries (0-based rows of the query file) instead")
    for name, hlp in (("tsne", "t-SNE of descriptors (colour: identity, marker: modality)"),
                      ("distances", "intra/inter-identity distance histograms, within/cross modality")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("--features", required=True, nargs="+", type=Path, metavar="FILE",
                       help="features files (e.g. a visible and an infrared one)")
        if name == "tsne":
            s.add_argument("--max-ids", type=int, default=20, help="identities drawn (default: 20)")
            s.add_argument("--perplexity", type=float, default=30.0)
    a = sub.add_parser("attention", help="CAM/PAM or ViT attention-rollout maps over an image")
    add_model_args(a)
    a.add_argument("--image", required=True, type=Path, metavar="IMAGE")
    a.add_argument("--modality", required=True, choices=("visible", "infrared"))
    a.add_argument("--kind", default="auto", choices=("auto", "abd", "rollout"))
    for s in (r, *sub.choices.values()):
        if not any(act.dest == "out" for act in s._actions):
            s.add_argument("--out", required=True, type=Path, metavar="PNG", help="output picture")
    return p


def _load(path: Path, need_paths: bool = False, need_modality: bool = False):
    from vireid.evaluation.features import load_features

    fs = load_features(path)
    if need_paths and fs.paths is None:
        raise VireidError(f"{path}: stores no image paths (needed for rank lists); write it with vireid extract")
    if need_modality and fs.modality is None:
        raise VireidError(f"{path}: stores no modality (needed to split visible/infrared)")
    return fs


def _stack(paths: list[Path]):
    sets = [_load(p, need_modality=True) for p in paths]
    dims = {fs.feats.shape[1] for fs in sets}
    if len(dims) > 1:
        raise VireidError(f"features files have different descriptor sizes {sorted(dims)}; "
                          "were they extracted by the same model?")
    feats = np.concatenate([fs.feats for fs in sets]).astype(np.float32)
    pids = np.concatenate([fs.pids for fs in sets])
    mods = np.concatenate([[fs.modality] * len(fs) for fs in sets])
    return feats, pids, mods


def run(args: argparse.Namespace) -> int:
    check_out_file(args.out)
    if args.picture == "ranks":
        from vireid.evaluation.distance import pairwise_distance
        from vireid.viz.ranks import rank_list_figure

        q, g = _load(args.query, need_paths=True), _load(args.gallery, need_paths=True)
        if q.feats.shape[1] != g.feats.shape[1]:
            raise VireidError(f"descriptor sizes differ: {q.feats.shape[1]} ({args.query}) vs "
                              f"{g.feats.shape[1]} ({args.gallery})")
        dist = pairwise_distance(q.feats.astype(np.float32), g.feats.astype(np.float32), "cosine")
        if args.query_index is not None:
            bad = [i for i in args.query_index if not 0 <= i < len(q)]
            if bad:
                raise VireidError(f"--query-index {bad} out of range: {args.query} has {len(q)} queries")
            picks = list(args.query_index)
        else:
            n = max(1, min(args.num_queries, len(q)))
            picks = np.unique(np.linspace(0, len(q) - 1, num=n).round().astype(int)).tolist()
        path = rank_list_figure(dist, q.paths, q.pids.tolist(), g.paths, g.pids.tolist(), args.out,
                                topk=args.topk, query_indices=picks)
    elif args.picture == "tsne":
        from vireid.viz.projection import tsne_figure

        feats, pids, mods = _stack(args.features)
        path = tsne_figure(feats, pids, mods, args.out, perplexity=args.perplexity, max_ids=args.max_ids)
    elif args.picture == "distances":
        from vireid.viz.distances import distance_histogram_figure

        feats, pids, mods = _stack(args.features)
        path = distance_histogram_figure(feats, pids, mods, args.out)
    else:
        from vireid.viz.attention import attention_picture

        model = model_from_args(args)
        path = attention_picture(model, str(args.image), args.modality, args.out, kind=args.kind)
    print(f"wrote {path}")
    return 0
