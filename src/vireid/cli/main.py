"""``vireid`` console script: the one place every command's environment is handled.

Each sub-command lives in its own module under :mod:`vireid.cli` exposing
``add_parser(subparsers)`` (which declares what the command reads and writes,
:func:`vireid.cli._common.declare`) and ``run(args) -> int``.  :data:`COMMANDS` lists them
explicitly (imported lazily so that ``vireid --help`` stays fast).  ``key=value`` config
overrides may come anywhere after the sub-command.

Around every command:

* the output policy (:mod:`vireid.utils.outputs`) is set from its declaration: its inputs,
  and ``--overwrite``;
* a :class:`vireid.errors.VireidError`, a usage error, an ``OSError`` (a path that cannot be
  read or written, a full disk, a read-only folder) and running out of memory (``MemoryError``,
  torch's allocator) become one line on stderr and exit code 2,
  control characters in it escaped (:func:`vireid.utils.paths.shown`); nothing else is caught;
* a closed pipe (``vireid search ... | head -1``) ends the command quietly, exit code 141 as a
  shell reports SIGPIPE;
* stdout and stderr never fail on a character the locale cannot encode (``LC_ALL=C``): a file
  name's undecodable bytes are written back as they were, other characters as ``\\u`` escapes.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import importlib
import io
import os
import sys
import warnings
from typing import Iterator, Sequence

from vireid.cli._common import OVERRIDE as _OVERRIDE
from vireid.errors import VireidError, VireidWarning
from vireid.utils import notes
from vireid.utils.paths import shown
from vireid.version import __version__

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


@contextlib.contextmanager
def _one_line_warnings(command: str) -> Iterator[None]:
    """Every warning printed as one line on stderr (``vireid CMD: warning: ...``): vireid's own as
    they are, a library's first line with its category and source (Python's format adds the source
    line: two or more lines); a library's deprecation notices not at all."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, VireidWarning):
            notes.emit(f"vireid {command}: warning: {shown(str(message))}")
            return
        if issubclass(category, (DeprecationWarning, PendingDeprecationWarning)):
            return  # for a library's developers (Python hides them outside __main__ too), not our users
        text = (str(message).strip().splitlines() or [""])[0]
        notes.emit(f"vireid {command}: warning: {shown(text)} ({category.__name__}, {shown(str(filename))}:{lineno})")

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _escape_unencodable(exc: UnicodeError) -> tuple[str | bytes, int]:
    """Encoding error handler of stdout/stderr: a file name's undecodable bytes (surrogate escapes)
    go out as the original bytes, any other character the locale cannot encode as an escape."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    part = exc.object[exc.start : exc.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in part):
        return bytes(ord(c) - 0xDC00 for c in part), exc.end
    return "".join(
        f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
        for c in part
    ), exc.end


codecs.register_error("vireid-escape", _escape_unencodable)


def _robust_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors != "vireid-escape":
            try:
                stream.reconfigure(errors="vireid-escape")
            except (ValueError, io.UnsupportedOperation):  # pragma: no cover - a closed or odd stream
                pass


class _WatchedStdout:
    """``sys.stdout`` as it was, remembering the error a write or flush raised: a full disk or
    ``/dev/full`` under stdout is then named as standard output (the error names no file), and
    ``--help``'s, which argparse swallows, is not lost in silence."""

    def __init__(self, stream) -> None:  # noqa: ANN001  (a text stream)
        self._stream, self.failure = stream, None

    def _watch(self, name: str, *a):  # noqa: ANN202
        try:
            return getattr(self._stream, name)(*a)
        except OSError as exc:
            self.failure = exc
            raise

    def write(self, text: str) -> int:
        return self._watch("write", text)

    def flush(self) -> None:
        self._watch("flush")

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._stream, name)


@contextlib.contextmanager
def _watched_stdout() -> Iterator[_WatchedStdout | None]:
    if sys.stdout is None or isinstance(sys.stdout, _WatchedStdout):  # closed at start, or a main() inside main()
        yield sys.stdout if isinstance(sys.stdout, _WatchedStdout) else None
        return
    real = sys.stdout
    sys.stdout = watched = _WatchedStdout(real)
    try:
        yield watched
    finally:
        sys.stdout = real
        if watched.failure is not None:  # the flush at exit must not fail again (an "Exception ignored" line)
            _stdout_to_devnull()


def _stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # a stream without a descriptor
        pass


def _os_error_text(exc: OSError, stdout: _WatchedStdout | None = None) -> str:
    from vireid.utils.outputs import os_reason

    if exc.filename is None and stdout is not None and stdout.failure is exc:
        return f"standard output: {os_reason(exc)}"
    return f"{exc.filename}: {os_reason(exc)}" if exc.filename is not None else os_reason(exc)


def _out_of_memory(exc: BaseException) -> bool:
    """A ``MemoryError``, or torch's allocator failing (a ``RuntimeError``: CPU or CUDA)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return "can't allocate memory" in text or "CUDA out of memory" in text or "out of memory" in text.split("\n")[0]


def _memory_text(exc: BaseException) -> str:
    first = " ".join(str(exc).split("\n")[0].split())
    detail = f" ({first[:200]})" if first else ""
    return (
        f"out of memory{detail}: the machine could not hold the work asked for; lower the batch or image size "
        "(data.num_ids, data.num_pos, data.height, data.width, data.test_batch_size, --batch-size, --input-size)"
    )


def _broken_pipe() -> int:
    """The reader of our stdout went away (``| head``): stop quietly, as SIGPIPE would."""
    _stdout_to_devnull()  # the flush at exit must not fail again
    return 141


def _refuse_repeated_inputs(args: argparse.Namespace, declared: dict[str, str], names: dict[str, str]) -> None:
    """A file given twice to an option that takes several (``evaluate --gallery G G``: the same
    trial counted twice; ``visualize tsne --features F F``: every point drawn twice) is refused."""
    from vireid.utils.paths import same_path

    for dest, what in declared.items():
        values = getattr(args, dest, None)
        if not isinstance(values, list):
            continue
        for i, a in enumerate(values):
            for b in values[:i]:
                if os.fspath(a) == os.fspath(b) or same_path(a, b):
                    option = names.get(dest, "--" + dest.replace("_", "-"))
                    to = f" to {option}" if option.startswith("-") else ""  # a positional: the list given
                    raise VireidError(f"{a}: given twice{to} (as {b}); each {what} is read once")


def _run(args: argparse.Namespace) -> int:
    import vireid.data.datasets  # noqa: F401  (registers the dataset layouts the output policy never writes into)
    from vireid.utils import outputs

    decl = getattr(args, "_declaration", None)
    if decl is None:  # every command declares what it reads and writes (tests/cli/test_outputs_walk.py)
        raise RuntimeError(f"vireid {args.command}: declares no inputs and outputs (a vireid bug)")
    inputs = {what: getattr(args, dest, None) for dest, what in decl.inputs.items()}
    _refuse_repeated_inputs(args, {d: w for d, w in decl.inputs.items() if d not in decl.repeatable}, decl.names)
    with outputs.policy(overwrite=bool(getattr(args, "overwrite", False)), inputs=inputs):
        return int(args._run(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    _robust_streams()
    try:  # an interrupt while torch and the plugins are imported, or while parsing: one line too
        with _watched_stdout() as stdout:
            return _main(argv, stdout)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None, stdout: _WatchedStdout | None) -> int:
    try:
        parser = build_parser()  # the registries' names: installed plugins and $VIREID_PLUGINS are imported
    except VireidError as exc:
        print(f"vireid: error: {shown(exc)}", file=sys.stderr)
        return exc.exit_code
    try:
        args, extra = parser.parse_known_args(argv)
        _place_overrides(parser, args, extra)
    except SystemExit as exc:  # usage errors (2) and --help / --version (0)
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 2
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        if code == 0 and stdout is not None and stdout.failure is not None:  # argparse swallowed it
            if isinstance(stdout.failure, BrokenPipeError):
                return _broken_pipe()
            print(f"vireid: error: {shown(_os_error_text(stdout.failure, stdout))}", file=sys.stderr)
            return 2
        return code
    except BrokenPipeError:  # --help into a closed pipe
        return _broken_pipe()
    from vireid.utils.interrupt import reliable_interrupts

    try:  # notes held until the work begins, dropped if an input is refused (vireid.utils.notes)
        with _one_line_warnings(args.command), reliable_interrupts(), notes.holding():
            code = _run(args)
        if sys.stdout is not None:
            sys.stdout.flush()  # what is still buffered: a failure is this command's, named here
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except VireidError as exc:
        print(f"vireid {args.command}: error: {shown(exc)}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a path that cannot be read or written, a full disk, a read-only folder
        if exc.errno is None:
            raise
        print(f"vireid {args.command}: error: {shown(_os_error_text(exc, stdout))}", file=sys.stderr)
        return 2
    except UnicodeError as exc:  # a file name the locale cannot encode (LC_ALL=C)
        if not isinstance(exc, (UnicodeEncodeError, UnicodeDecodeError)):
            raise
        bad = exc.object[exc.start : exc.end]
        print(
            f"vireid {args.command}: error: a file name or text holds {shown(ascii(bad))}, which the locale's "
            f"encoding ({sys.getfilesystemencoding()}) cannot represent; run with a UTF-8 locale (LC_ALL=C.UTF-8)",
            file=sys.stderr,
        )
        return 2
    except (MemoryError, RuntimeError) as exc:  # the machine cannot hold the work asked for
        if not _out_of_memory(exc):
            raise
        print(f"vireid {args.command}: error: {shown(_memory_text(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
