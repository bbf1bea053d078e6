"""Tasks run in worker processes that stop with the command.

``concurrent.futures.ProcessPoolExecutor`` left its workers running when only the main process
was interrupted (``kill -INT PID``, ``timeout -s INT``, a supervisor; a terminal's Ctrl-C reaches
the whole process group): the main process printed ``interrupted`` and then waited at exit for
workers that went on training, and SIGTERM left them orphaned (with the resource tracker's
"leaked semaphore" warning).

:func:`run_in_workers` runs tasks in spawned worker processes.  Whenever it does not end with
every result -- an interrupt (SIGINT; SIGTERM too while it runs,
:func:`vireid.utils.interrupt.terminate_as_interrupt`), a task's error, a callback's exception --
each worker still at a task is sent SIGTERM, which it takes as Ctrl-C
(:func:`vireid.utils.interrupt.interrupt_once`: the task cleans up as it would in the main
process), is waited for :data:`GRACE` seconds, and killed only after that; the idle ones are
told to exit.  Nothing is left running when it returns or raises.  A worker whose main process
died (``kill -9``) interrupts itself the same way.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import traceback
from collections import deque
from typing import Any, Callable, Sequence

GRACE = 10.0  # seconds a stopped worker has to clean up before it is killed


class _RemoteTraceback(Exception):
    """The worker's traceback, chained to a task's error re-raised in the main process."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _portable(exc: BaseException) -> BaseException:
    """``exc``, or a RuntimeError with its text where it would not survive pickling."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _watch_parent() -> None:
    """Interrupt this worker when its main process dies."""
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:  # pragma: no cover - not a spawned worker
        return

    def watch() -> None:
        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="vireid-parent-watch", daemon=True).start()


def _worker(conn) -> None:
    """A worker's loop: run each ``(fn, args)`` received, send back ``(True, result)`` or
    ``(False, error, traceback)``; end at the main process's end of the pipe closing, or at an
    interrupt (exit code 130, quietly)."""
    from vireid.utils.interrupt import interrupt_once

    interrupt_once()
    _watch_parent()
    try:
        while True:
            try:
                fn, args = conn.recv()
            except EOFError:  # no more tasks
                break
            except Exception as exc:  # a task this process cannot rebuild (not importable)
                conn.send((False, _portable(exc), traceback.format_exc()))
                continue
            try:
                reply: tuple = (True, fn(*args))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # every error goes back to the main process
                reply = (False, _portable(exc), traceback.format_exc())
            try:
                conn.send(reply)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an unpicklable result
                conn.send((False, RuntimeError(f"a worker's result could not be sent back: {exc}"), ""))
        _quiet_exit(0)  # in the try: a signal landing on the way out is caught as well
    except (KeyboardInterrupt, BrokenPipeError, ConnectionResetError):  # or the main process went away
        _quiet_exit(130)


def _quiet_exit(code: int) -> None:
    """End the worker: no later signal turns its exit into a traceback."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(code)


def _stop(workers: dict[Any, list], grace: float = GRACE) -> None:
    """Stop every worker (see the module's docstring) and wait for it to end."""
    import time

    procs = [p for p, _ in workers.values()]
    try:
        busy = [p for p, task in workers.values() if task is not None and p.is_alive()]
        for conn in workers:
            conn.close()  # an idle worker reads the end of its tasks and exits
        for p in busy:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:  # ended meanwhile
                pass
        deadline = time.monotonic() + grace
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
    finally:  # past the grace period, or interrupted again meanwhile: no more waiting
        for p in procs:
            if p.is_alive():
                p.kill()
        for p in procs:
            p.join()
            p.close()


def run_in_workers(
    tasks: Sequence[tuple[Callable[..., Any], tuple]],
    workers: int,
    *,
    on_start: Callable[[int], None] = lambda i: None,
    on_result: Callable[[int, Any], None] = lambda i, result: None,
    name: Callable[[int], str] = lambda i: f"task {i}",
    grace: float = GRACE,
) -> None:
    """Run every ``fn(*args)`` of ``tasks`` in ``workers`` spawned processes (``fn`` and its
    arguments picklable: ``fn`` a module-level function); ``on_start(i)`` as task ``i`` is handed
    to a worker, ``on_result(i, result)`` (in the main process) as its result arrives.

    A task's error is raised here once the other workers are stopped (its worker's traceback
    chained), after the results that came before it; a worker that died at a task
    (killed, out of memory) is a :class:`vireid.errors.VireidError` naming the task (``name(i)``),
    one interrupted on its own a :class:`KeyboardInterrupt`.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    from vireid.errors import VireidError
    from vireid.utils.interrupt import terminate_as_interrupt

    ctx = multiprocessing.get_context("spawn")  # not fork: the main process may hold torch / BLAS threads
    todo = deque(range(len(tasks)))
    running: dict[Any, list] = {}  # our end of a worker's pipe -> [process, task index or None]
    with terminate_as_interrupt():
        try:
            for _ in range(min(workers, len(tasks))):
                ours, theirs = ctx.Pipe()
                p = ctx.Process(target=_worker, args=(theirs,), name="vireid-worker")
                p.start()
                running[ours] = [p, None]
                theirs.close()

            def hand_out(conn) -> None:
                if todo:
                    i = todo.popleft()
                    running[conn][1] = i
                    on_start(i)
                    try:
                        conn.send(tasks[i])
                    except (BrokenPipeError, ConnectionResetError):  # the worker died: its sentinel tells
                        pass

            for conn in list(running):
                hand_out(conn)
            while any(task is not None for _, task in running.values()):
                busy = {c: p for c, (p, task) in running.items() if task is not None}
                ready = wait([*busy, *(p.sentinel for p in busy.values())])
                for conn, p in busy.items():
                    if conn not in ready and p.sentinel not in ready:
                        continue
                    i = running[conn][1]
                    try:
                        reply = conn.recv()
                    except (EOFError, OSError):  # the worker died at its task
                        p.join(1.0)
                        code = p.exitcode
                        if code in (130, -signal.SIGINT, -signal.SIGTERM):
                            raise KeyboardInterrupt from None
                        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                        raise VireidError(
                            f"{name(i)}: its worker process ended without a result ({how}; out of memory?)"
                        ) from None
                    running[conn][1] = None
                    if not reply[0]:
                        exc = reply[1]
                        if reply[2]:
                            exc.__cause__ = _RemoteTraceback(reply[2])
                        raise exc
                    on_result(i, reply[1])
                    hand_out(conn)
        finally:
            _stop(running, grace)
