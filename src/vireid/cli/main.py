"""``vireid`` console script.

Each sub-command lives in its own module under :mod:`vireid.cli` exposing
``add_parser(subparsers)`` and ``run(args) -> int``.  :data:`COMMANDS` lists them
explicitly (imported lazily so that ``vireid --help`` stays fast).
A :class:`vireid.errors.VireidError`, a usage error and an ``OSError`` on a named path
(permission denied, a file where a folder is needed) become one line on stderr and exit code 2;
nothing else is caught.  ``key=value`` config overrides may come anywhere after
the sub-command.
"""

from __future__ import annotations

import argparse
import importlib
import re
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
    "report": "report",
    "configs": "configs",
    "weights": "weights",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        """One line on stderr (the usage is one ``--help`` away) and exit code 2, as every user error."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_OVERRIDE = re.compile(r"^[A-Za-z_][\w.+-]*=")


def _place_overrides(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> None:
    """Overrides may come anywhere after the sub-command (``--out X a=1 --quiet b=2``): argparse
    gives the first block to the ``overrides`` positional and returns the others; they are
    appended in command-line order (a later value of a key wins).  ``ablate`` takes none this way:
    its grid axes and fixed overrides go after ``--grid`` and ``--set``."""
    if not extra:
        return
    sub = getattr(args, "_parser", parser)
    unknown = [e for e in extra if not _OVERRIDE.match(e)]
    if unknown or not hasattr(args, "overrides"):
        sub.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if getattr(args, "_ambiguous_overrides", False):
        sub.error(
            f"{' '.join(extra)}: is it a grid axis or a fixed setting? put axes after --grid and fixed "
            "overrides after --set"
        )
    args.overrides = list(args.overrides or []) + extra


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vireid", description="Visible-infrared person re-identification toolkit.")
    parser.add_argument("--version", action="version", version=f"vireid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in COMMANDS.values():
        mod = importlib.import_module(f"vireid.cli.{module}")
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run, _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        _place_overrides(parser, args, extra)
    except SystemExit as exc:  # usage errors (2) and --help / --version (0)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    try:
        return int(args._run(args) or 0)
    except VireidError as exc:
        print(f"vireid {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a path the user gave cannot be read or written (permissions, a file as folder)
        if exc.filename is None:
            raise
        print(f"vireid {args.command}: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
