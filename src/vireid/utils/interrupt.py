"""Ctrl-C that is never lost.

Python raises :class:`KeyboardInterrupt` wherever the main thread happens to be when SIGINT
arrives.  Where that is code whose exceptions Python ignores -- the at-fork hooks that run when
a DataLoader starts its worker processes (``logging``'s lock release), a ``__del__`` (a finished
DataLoader iterator shutting its workers down), a weakref callback -- the interrupt is printed
as "Exception ignored" and dropped, and training goes on.  A DataLoader forks its workers at the
start of every epoch and of every evaluation, so a Ctrl-C there was lost.

Inside :func:`reliable_interrupts` (``vireid`` commands and :func:`vireid.engine.run.train`) SIGINT
also leaves a flag, and :func:`raise_if_interrupted` -- called before every training step and
after every evaluation batch -- raises the interrupt again from ordinary code.  A handler the
program installed itself, or SIGINT ignored (``nohup``), is left alone.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

_state = {"depth": 0, "requested": False, "previous": None}


def _handler(signum, frame) -> None:
    _state["requested"] = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def reliable_interrupts() -> Iterator[None]:
    """Within the block, an interrupt Python dropped is raised again by :func:`raise_if_interrupted`."""
    install = (
        _state["depth"] == 0
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if install:
        _state["previous"] = signal.signal(signal.SIGINT, _handler)
        _state["requested"] = False
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        if install:
            signal.signal(signal.SIGINT, _state["previous"])
            _state["previous"] = None
            _state["requested"] = False


def raise_if_interrupted() -> None:
    """Raise :class:`KeyboardInterrupt` if SIGINT arrived (even if its exception was dropped)."""
    if _state["requested"]:
        raise KeyboardInterrupt
