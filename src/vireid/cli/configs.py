"""``vireid configs``: the shipped configs, by name, with their one-line descriptions.

Pass a name wherever a config is taken (``vireid train --config deen_sysu``); a YAML path
works too, and a config of your own can start from a shipped one with ``base: deen_sysu.yaml``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("configs", help="list the shipped configs (usable by name: --config deen_sysu)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--paths", action="store_true", help="print each config's file path instead of its description")
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.config.shipped import list_configs, shipped_configs

    rows = [(name, str(path)) for name, path in shipped_configs().items()] if args.paths else list_configs()
    width = max(len(name) for name, _ in rows)
    for name, text in rows:
        print(f"{name.ljust(width)}  {text}".rstrip())
    return 0
