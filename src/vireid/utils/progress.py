"""Progress bars (tqdm) only where someone watches: on a terminal.  Redirected to a file or a pipe
(CI logs, ``2> log``, ``| head``), a bar is a stream of carriage-return lines; there vireid draws
none, whatever ``progress`` asks."""

from __future__ import annotations

import sys
from typing import Any, TextIO


def watched(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


def progress_bar(enabled: bool = True, stream: TextIO | None = None, **kwargs: Any):
    """A tqdm bar on ``stream`` (default stderr) when ``enabled`` and it is a terminal, else None.
    A bar drawn shows the work has begun: the command's held notes are printed first
    (:func:`vireid.utils.notes.release`); without one they wait for the command's end."""
    if not enabled or not watched(stream):
        return None
    from tqdm import tqdm

    from vireid.utils import notes

    notes.release()

    return tqdm(file=stream if stream is not None else sys.stderr, **kwargs)
