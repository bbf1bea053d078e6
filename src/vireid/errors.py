"""User-facing errors.

Every mistake a *user* can make (bad path, malformed index line, wrong shape,
unknown option) raises :class:`VireidError` (or a subclass) with a message that
names the file, the line and what was expected.  The CLI prints the message and
exits with code 2; programming errors keep their tracebacks.
"""

from __future__ import annotations


class VireidError(Exception):
    """An error caused by user input (data, config, arguments).

    Raised in a DataLoader worker, it reaches the main process through torch, which rebuilds it
    from ``"Caught X in DataLoader worker process N.\nOriginal Traceback ...\nX: message"``;
    the rebuilt error keeps the one-line ``message`` (the worker's traceback says nothing a user
    can act on).
    """

    exit_code = 2

    def __init__(self, *args: object) -> None:
        if (
            len(args) == 1
            and isinstance(args[0], str)
            and args[0].startswith("Caught ")
            and "\nOriginal Traceback" in args[0]
        ):
            last = args[0].rstrip().splitlines()[-1]
            kind, sep, message = last.partition(": ")
            if sep and kind.rsplit(".", 1)[-1] == type(self).__name__:
                args = (message,)
        super().__init__(*args)


class DatasetError(VireidError):
    """A dataset root, index file or image is missing or malformed."""


class ConfigError(VireidError, ValueError):
    """A configuration file, override or constructor argument is invalid (also a ``ValueError``: a value
    that is not allowed)."""


class CheckpointError(VireidError):
    """A checkpoint cannot be read or does not match the architecture."""


class PluginError(ConfigError):
    """A plugin module cannot be imported, registers something wrongly, or a checkpoint needs one that is not loaded."""


class OutputError(VireidError):
    """An output path vireid may not write (see :mod:`vireid.utils.outputs`), or a write that failed."""


class ShapeError(VireidError):
    """An input tensor or array has the wrong shape or content."""


class JSONError(VireidError, ValueError):
    """A file or metadata value that is not UTF-8, not valid JSON, or nested deeper than vireid reads
    (:func:`vireid.utils.jsonio.json_loads`, the one decoder); also a ``ValueError``, as ``json``'s
    own errors are.  ``why``: the reason without the place; ``too_deep``: refused for its nesting."""

    where: str = ""
    why: str = ""
    too_deep: bool = False


class VireidWarning(UserWarning):
    """Something a user should know that does not stop the command (e.g. a dataset list the authors'
    code tolerates); the CLI prints it as one line."""


def format_location(path: object, line: int | None = None) -> str:
    """``"path"`` or ``"path:line"`` for error messages."""
    return f"{path}:{line}" if line is not None else str(path)
