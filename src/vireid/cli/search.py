"""``vireid search``: rank an index's gallery (one modality) for query images of the other modality.

    vireid search --index gallery.index --query ir_0001.jpg [ir_0002.jpg ...] --modality infrared \\
        [--checkpoint CKPT] [--topk 10] [--json]

The index folder is checked file by file when read (a damaged or foreign one is refused in one
line).  The queries are embedded with ``--checkpoint`` (default: the checkpoint recorded in the index)
and must come from the same model as the gallery (hashes of its tensors and config, descriptor
size) and from the other modality; otherwise the search is refused with exit code 2.
Prints, for each query, the ranked gallery entries (rank, score = cosine similarity, pid,
camid, path); ``--json`` prints one JSON document instead.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from vireid.cli._common import add_model_args, declare, integer, modality, model_from_args
from vireid.errors import VireidError, VireidWarning
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "search",
        help="search a gallery index with query images of the other modality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--index", required=True, type=Path, metavar="INDEX_DIR", help="folder from `vireid index build`")
    p.add_argument("--query", required=True, nargs="+", metavar="IMAGE", help="query image file(s)")
    p.add_argument("--modality", required=True, type=modality, metavar="MODALITY", help="the queries' modality")
    add_model_args(p, checkpoint_required=False)
    p.add_argument("--topk", type=integer(1), default=10, help="results per query (default: 10)")
    p.add_argument(
        "--nprobe", type=integer(1), default=None, help="IVF lists visited, faiss-ivf indexes only (default: 16)"
    )
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    declare(
        p,
        inputs={"index": "index", "query": "query image", "checkpoint": "checkpoint"},
        repeatable=("query",),  # each query is answered on its own: a repeat is answered twice
        example=("search", "--index", "{index}", "--query", "{image}", "--modality", "infrared", "--topk", "2"),
    )
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.inference.search import query_checkpoint, search_images
    from vireid.search import GalleryIndex
    from vireid.search.index import check_nprobe

    if args.topk < 1:
        raise VireidError(f"--topk must be >= 1, got {args.topk}")
    index = GalleryIndex.load(args.index)
    if args.nprobe is not None and (text := check_nprobe(index.backend, index.nlist, args.nprobe, "--nprobe")):
        warnings.warn(text, VireidWarning, stacklevel=1)
    checkpoint = query_checkpoint(
        index, args.modality, args.checkpoint, where=str(args.index), option="--modality"
    )  # before loading
    result = search_images(
        index, model_from_args(args, checkpoint), args.query, args.modality, topk=args.topk, nprobe=args.nprobe or 16
    )
    if args.json:
        doc = {
            "index": str(args.index),
            "gallery_modality": index.modality,
            "query_modality": args.modality,
            "topk": args.topk,
            "queries": [{"query": str(q), "results": result.hits(i)} for i, q in enumerate(args.query)],
        }
        print(json.dumps(doc, indent=2))
        return 0
    for i, q in enumerate(args.query):
        print(f"query {shown(q)} ({args.modality}) -> top {args.topk} of {len(index.entries)} {index.modality} images")
        print(f"{'rank':>4}  {'score':>7}  {'pid':>6}  {'camid':>5}  path")
        for h in result.hits(i):
            print(f"{h['rank']:>4}  {h['score']:>7.4f}  {h['pid']:>6}  {h['camid']:>5}  {shown(h['path'])}")
    return 0
