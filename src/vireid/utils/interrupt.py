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

Work in worker processes (:mod:`vireid.utils.workers`) adds two rules: while the main process
has workers, SIGTERM interrupts it as SIGINT does (:func:`terminate_as_interrupt`: the workers
are then stopped, not orphaned), and a worker takes SIGINT or SIGTERM as one interrupt
(:func:`interrupt_once`: a second signal never cuts the clean-up the first one started).
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


def _once(signum, frame) -> None:
    if _state["requested"]:
        return  # already stopping: the clean-up under way (a run's lock, its unfinished files) must finish
    _state["requested"] = True
    raise KeyboardInterrupt


def interrupt_once() -> None:
    """In a worker process: SIGINT (unless ignored, as under ``nohup``) and SIGTERM raise
    :class:`KeyboardInterrupt` once; later ones are ignored, and :func:`raise_if_interrupted`
    raises an interrupt that was dropped."""
    _state["requested"] = False
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _once)
    signal.signal(signal.SIGTERM, _once)


def _terminate(signum, frame) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)  # as SIGINT would (reliable_interrupts' flag included)
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`KeyboardInterrupt` in the main thread, as SIGINT:
    the ``finally`` clauses run (worker processes stopped) instead of the process dying on the
    spot.  A handler the program installed itself is left alone."""
    install = (
        threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    )
    if install:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        if install:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def raise_if_interrupted() -> None:
    """Raise :class:`KeyboardInterrupt` if SIGINT arrived (even if its exception was dropped)."""
    if _state["requested"]:
        raise KeyboardInterrupt
