"""User-facing errors.

Every mistake a *user* can make (bad path, malformed index line, wrong shape,
unknown option) raises :class:`VireidError` (or a subclass) with a message that
names the file, the line and what was expected.  The CLI prints the message and
exits with code 2; programming errors keep their tracebacks.
"""

from __future__ import annotations


class VireidError(Exception):
    """An error caused by user input (data, config, arguments)."""

    exit_code = 2


class DatasetError(VireidError):
    """A dataset root, index file or image is missing or malformed."""


class ConfigError(VireidError):
    """A configuration file or override is invalid."""


class CheckpointError(VireidError):
    """A checkpoint cannot be read or does not match the architecture."""


class ShapeError(VireidError):
    """An input tensor or array has the wrong shape or content."""


def format_location(path: object, line: int | None = None) -> str:
    """``"path"`` or ``"path:line"`` for error messages."""
    return f"{path}:{line}" if line is not None else str(path)
