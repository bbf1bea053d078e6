"""engine.lock: one writer per run folder, a second process is refused naming the holder, a dead
holder's lock is taken over."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from vireid.engine.lock import LOCK_FILE, RunLock, RunLockedError, read_holder

HOLD = textwrap.dedent("""
    import sys, time
    from vireid.engine.lock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or kills us)
    lock.release()
""")


def _holder(run):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "locked"
    return child


def test_second_process_is_refused_with_the_holder_named(tmp_path):
    run = tmp_path / "run"
    child = _holder(run)
    try:
        holder = read_holder(run)
        assert holder["pid"] == child.pid and holder["host"]
        with pytest.raises(RunLockedError, match=f"in use by PID {child.pid} on "):
            RunLock(run).acquire()
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    with RunLock(run):  # released cleanly: free, nothing to report
        assert read_holder(run)["pid"] == os.getpid()
    assert (run / LOCK_FILE).read_text() == ""


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    child = _holder(run)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert read_holder(run)["pid"] == child.pid  # the file still names it...
    said = []
    with RunLock(run, log=said.append):  # ...but the kernel dropped its lock
        assert read_holder(run)["pid"] == os.getpid()
    assert len(said) == 1 and f"PID {child.pid}" in said[0] and "took over" in said[0]


def test_reentrant_within_a_process(tmp_path):
    with RunLock(tmp_path) as outer:
        with RunLock(tmp_path):
            pass
        assert read_holder(tmp_path)["pid"] == os.getpid()  # still held by the outer one
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\nfrom vireid.engine.lock import RunLock\n"
                "try:\n    RunLock(sys.argv[1]).acquire()\nexcept Exception as e:\n"
                "    print(type(e).__name__)",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.stdout.strip() == "RunLockedError"
    assert outer is not None and (tmp_path / LOCK_FILE).read_text() == ""
