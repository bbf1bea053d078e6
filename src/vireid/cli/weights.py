"""``vireid weights list`` / ``vireid weights download NAME``: named pretrained backbone weights.

``download`` fetches a file into torch.hub's cache (``$TORCH_HOME/hub/checkpoints``), where
``model.pretrained: NAME`` finds it -- run it on a machine with internet, then copy the cache
to compute nodes that have none.
"""

from __future__ import annotations

import argparse

from vireid.cli._common import declare


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "weights",
        help="list or download named pretrained backbone weights",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION", parser_class=type(p))
    sub.required = True
    declare(
        sub.add_parser("list", help="named weights, their URL and whether they are cached"), example=("weights", "list")
    )
    d = sub.add_parser("download", help="download named weights into the cache")
    d.add_argument("name", help="a name from `vireid weights list`")
    declare(
        d,
        example=("weights", "download", "resnet50_imagenet_v1"),
        writes="torch.hub's cache ($TORCH_HOME): a new file only, checked against its hash, never over another",
    )
    return p


def _cache_state(pt, w) -> str:
    """``cached`` only for a file whose SHA-256 matches (what ``model.pretrained`` would accept)."""
    path = pt.cached_path(w)
    if not path.exists() and not path.is_symlink():
        return "not cached"
    if not path.is_file():
        return "not a file: move it away"
    if not pt.sha256_of(path).startswith(w.hash_prefix):
        return f"cached file does not match SHA-256 {w.hash_prefix}: delete it to download again"
    return "cached"


def run(args: argparse.Namespace) -> int:
    from vireid.models import pretrained as pt

    if args.weights_command == "download":
        w = pt.get_weights(args.name)
        # a cached file is checked against its hash (a corrupt one is reported, not handed out)
        path = pt.resolve(w.name) if pt.cached_path(w).is_file() else pt.download(w, progress=True)
        print(f"{w.name}: {path}")
        return 0
    defaults = {v: k for k, v in pt.DEFAULTS.items()}
    for name in pt.weights_names():
        w = pt.get_weights(name)
        state = _cache_state(pt, w)
        alias = "  (= imagenet)" if name in defaults else ""
        print(f"{name}{alias}\n    {w.description}\n    {w.url}\n    {pt.cached_path(w)} [{state}]")
    return 0
