"""``vireid`` console script.

Each sub-command lives in its own module under :mod:`vireid.cli` exposing
``add_parser(subparsers)`` and ``run(args) -> int``.  :data:`COMMANDS` lists them
explicitly (imported lazily so that ``vireid --help`` stays fast).
A :class:`vireid.errors.VireidError` becomes a one-line message on stderr and
exit code 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from vireid import __version__
from vireid.errors import VireidError

# command name -> module implementing it (relative to vireid.cli)
COMMANDS: dict[str, str] = {
    "synth": "synth",
    "demo": "demo",
    "convert": "convert",
    "train": "train",
    "test": "test",
    "evaluate": "evaluate",
    "extract": "extract",
    "index": "index",
    "search": "search",
    "export": "export",
    "visualize": "visualize",
    "ablate": "ablate",
    "configs": "configs",
    "weights": "weights",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse already exits with 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vireid", description="Visible-infrared person re-identification toolkit.")
    parser.add_argument("--version", action="version", version=f"vireid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in COMMANDS.items():
        mod = importlib.import_module(f"vireid.cli.{module}")
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except VireidError as exc:
        print(f"vireid {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
