"""``vireid configs [NAME [key=value ...]]``: the shipped configs, or one config resolved.

Without a name: the shipped configs (then those installed plugins ship), by name, with their
one-line descriptions.  With a name
(or a YAML path) and optional overrides: that config with its ``base:`` chain and overrides
applied and every value checked (those only the model can judge on the model built from scratch),
as YAML -- what ``vireid train`` would run.

Pass a name wherever a config is taken (``vireid train --config deen_sysu``); a YAML path
works too, and a config of your own can start from a shipped one with ``base: deen_sysu.yaml``.
"""

from __future__ import annotations

import argparse
import os

from vireid.cli._common import OVERRIDE, declare


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "configs",
        help="list the shipped configs, or print one resolved (vireid configs NAME)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", default=None, help="a shipped config's name or a YAML path: print it resolved")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (with NAME)")
    p.add_argument("--paths", action="store_true", help="print each config's file path instead of its description")
    declare(p, inputs={"name": "config"}, example=("configs", "{config}"))
    return p


def run(args: argparse.Namespace) -> int:
    from vireid.config.shipped import list_configs, shipped_configs

    if args.name is not None and OVERRIDE.match(args.name) and not os.path.lexists(args.name):
        from vireid.errors import ConfigError

        raise ConfigError(
            f"{args.name}: an override, not a config; give the config first: vireid configs NAME key=value"
        )
    if args.name is not None:
        from vireid.config import dump_config, load_config
        from vireid.config.build import check_config

        cfg = load_config(args.name, args.overrides)
        check_config(cfg)  # what only the model can judge (loss.ort.weights, optim.head_modules)
        print(dump_config(cfg), end="")
        return 0
    if args.overrides:
        from vireid.errors import ConfigError

        raise ConfigError("overrides need a config: vireid configs NAME key=value ...")
    rows = [(name, str(path)) for name, path in shipped_configs().items()] if args.paths else list_configs()
    width = max(len(name) for name, _ in rows)
    for name, text in rows:
        print(f"{name.ljust(width)}  {text}".rstrip())
    return 0
