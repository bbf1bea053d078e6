"""Tasks in worker processes: results, errors, a dead worker named, and no worker left running."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vireid.errors import VireidError
from vireid.utils.workers import run_in_workers


def _task(x):
    """Module level: the workers unpickle it."""
    if x == "fail":
        raise ValueError("bad x")
    if x == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return 2 * x


def _wait_for(started: str) -> str:
    while not Path(started).exists():
        time.sleep(0.02)
    return "quick"


def _slow(started: str, cleaned: str) -> None:
    Path(started).write_text("")
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        Path(cleaned).write_text("")  # the task's own clean-up runs, as in the main process
        raise


def test_results_errors_and_a_dead_worker():
    got: dict[int, int] = {}
    run_in_workers([(_task, (i,)) for i in range(5)], 2, on_result=got.__setitem__)
    assert got == {i: 2 * i for i in range(5)}
    with pytest.raises(ValueError, match="^bad x$") as err:
        run_in_workers([(_task, ("fail",))], 1)
    assert "in _task" in str(err.value.__cause__)  # the worker's traceback
    with pytest.raises(VireidError, match=r"^run 0: its worker process ended without a result \(killed by signal 9"):
        run_in_workers([(_task, ("die",))], 1, name=lambda i: f"run {i}")
    assert not multiprocessing.active_children()


def test_an_interrupt_in_the_main_process_stops_the_busy_workers(tmp_path):
    """The main process interrupted (here: in a callback) interrupts a worker at its task, which
    cleans up and ends; nothing is left running, and it takes no longer than the clean-up."""
    started, cleaned = str(tmp_path / "started"), str(tmp_path / "cleaned")

    def interrupt(i, result):
        raise KeyboardInterrupt

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_in_workers([(_wait_for, (started,)), (_slow, (started, cleaned))], 2, on_result=interrupt)
    assert time.monotonic() - t0 < 30
    assert Path(cleaned).exists()
    assert not multiprocessing.active_children()


def test_a_worker_stops_when_its_main_process_dies(tmp_path):
    """``kill -9`` of the main process: its worker interrupts itself (cleans up) instead of
    training on as an orphan."""
    started, cleaned = str(tmp_path / "started"), str(tmp_path / "cleaned")
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parents[2])!r})\n"
        "from tests.utils.test_workers import _slow\n"
        "from vireid.utils.workers import run_in_workers\n"
        "run_in_workers([(_slow, (sys.argv[1], sys.argv[2]))], 1)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, started, cleaned], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not Path(started).exists():
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        child.kill()
        child.wait()
        deadline = time.monotonic() + 20
        while not Path(cleaned).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(cleaned).exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
