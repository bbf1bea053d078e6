"""A command's notes and warnings, held while it checks its inputs.

A refusal is one line on stderr (README, "Bad input").  A note about one input (manifest rows of
the other modality skipped, a legacy config key) printed before another input is refused would
make it two, and put a side remark above the cause.  So while a command checks its inputs its
notes are held: they are printed when the work begins (:func:`release`: a progress bar, the first
training step) or when the command ends, and dropped when it is refused -- the refusal is then
the one line, and a rerun with the refused input fixed shows them.  Outside a command
(:func:`holding` not entered) a note is printed at once.

Written here, not with :mod:`logging`: the rule is about one process's stderr during one command,
and a logger's handlers are shared with a user's program that imports vireid.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

_held: list[str] | None = None  # None: not holding, notes go out at once


def emit(line: str) -> None:
    """Print ``line`` on stderr now, or hold it while the command checks its inputs."""
    if _held is None:
        print(line, file=sys.stderr, flush=True)
    else:
        _held.append(line)


def release() -> None:
    """The work begins: print the held notes, and every later note at once."""
    global _held
    held, _held = _held, None
    for line in held or ():
        print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def holding() -> Iterator[None]:
    """Hold notes for the body: printed when it ends or releases them, dropped if it raises."""
    global _held
    previous, _held = _held, []
    try:
        yield
    except BaseException:
        _held = None  # refused or interrupted: its one line is the cause
        raise
    else:
        release()
    finally:
        _held = previous
