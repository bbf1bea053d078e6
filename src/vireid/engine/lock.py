"""The run folder's lock: one writer at a time (``vireid train``, ``vireid demo``, ``vireid ablate``).

An advisory exclusive lock (``fcntl.flock``) on ``RUN/.lock``, held for the life of the run.
The file holds the holder's PID, host and start time, so a second writer is refused with one
line naming the holder.  The kernel drops an ``flock`` when its process dies, however it dies,
so a lock file left by a dead process is free and simply taken over (its old content is
reported).  The lock is re-entrant within a process (the demo holds it while its training run
takes it again).  Platforms without ``fcntl`` (Windows) run unlocked.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from vireid.errors import VireidError
from vireid.utils.jsonio import json_loads

LOCK_FILE = ".lock"

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunLockedError(VireidError):
    """Another process holds the run folder's lock."""


_HELD: dict[str, list] = {}  # resolved lock path -> [fd, depth]
_GUARD = threading.Lock()


def read_holder(run_dir: str | os.PathLike) -> dict | None:
    """What the lock file of ``run_dir`` says about its (last) holder, or None."""
    try:
        path = Path(run_dir) / LOCK_FILE
        data = json_loads(path.read_bytes(), str(path))
    except (OSError, ValueError):  # JSONError is a ValueError: a lock file is best-effort
        return None
    return data if isinstance(data, dict) else None


def _describe(holder: dict | None) -> str:
    if not holder:
        return "another process"
    since = holder.get("since")
    when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else ""
    return f"PID {holder.get('pid', '?')} on {holder.get('host', '?')}{when}"


class RunLock:
    """``with RunLock(run_dir): ...`` -- exclusive, re-entrant within the process.

    ``log`` receives one line when a lock left by a dead process is taken over.
    """

    def __init__(self, run_dir: str | os.PathLike, *, log: Callable[[str], None] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.log = log

    def _key(self) -> str:
        return os.path.realpath(self.path)

    def acquire(self) -> "RunLock":
        if fcntl is None:  # pragma: no cover
            return self
        key = self._key()
        with _GUARD:
            if key in _HELD:
                _HELD[key][1] += 1
                return self
            from vireid.utils.outputs import RUN_LOCK, check_file

            check_file(self.path, RUN_LOCK)  # an empty or vireid's lock file; never a file of the user's
            self.run_dir.mkdir(parents=True, exist_ok=True)
            previous = read_holder(self.run_dir)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunLockedError(
                    f"{self.run_dir}: in use by {_describe(read_holder(self.run_dir))} "
                    "(a training run holds its folder); wait for it to end, or use another "
                    "--out"
                ) from None
            me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
            except OSError as exc:  # a full disk: let go of the lock again, say so in one line
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                from vireid.utils.outputs import write_failed

                raise write_failed(self.path, exc, what="the run's lock") from None
            _HELD[key] = [fd, 1]
        if previous and self.log is not None:
            self.log(f"{self.run_dir}: took over the lock left by {_describe(previous)} (no longer running)")
        return self

    def release(self) -> None:
        if fcntl is None:  # pragma: no cover
            return
        key = self._key()
        with _GUARD:
            entry = _HELD.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _HELD[key]
            fd = entry[0]
        try:
            os.ftruncate(fd, 0)  # an empty file: nobody holds it
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
