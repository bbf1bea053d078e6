"""Run ``vireid`` commands in isolated processes with a time limit, fast.

Starting Python and importing torch costs seconds per command; a fuzzer runs hundreds.  A
*fork server* (this module run as ``python -m tests.cli.fuzz.server``) imports vireid and its
heavy dependencies once, computes nothing (so no OpenMP thread pool exists to break a fork) and
then forks one child per case: the child starts a session of its own (so a hang is killed with
everything it started), takes its working folder, environment, stdin (empty), stdout and stderr
files, calls :func:`vireid.cli.main.main` and exits with its code -- an exception that escapes
prints its traceback and exits 1, as ``python -m vireid`` would.  A case that must see a fresh
interpreter (``LC_ALL=C`` reaches Python only at start) runs ``python -m vireid`` instead.

The server answers one JSON line per request line (stdin/stdout).  :class:`Server` is the client.
The standard library's ``multiprocessing`` forkserver is not used: its preload is global to the
calling process, and the per-case session, file descriptors and kill of the whole group are
what matters here.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

#: modules the server imports before forking (what the commands import lazily)
PRELOAD = (
    "numpy",
    "torch",
    "yaml",
    "PIL.Image",
    "safetensors.torch",
    "vireid.cli.main",
    "vireid.config",
    "vireid.engine.run",
    "vireid.engine.testing",
    "vireid.engine.demo",
    "vireid.engine.ablation",
    "vireid.inference",
    "vireid.inference.search",
    "vireid.search",
    "vireid.evaluation.files",
    "vireid.viz.files",
    "vireid.data.synth",
    "matplotlib.pyplot",
)
#: a case may use at most this much memory (RLIMIT_DATA): an absurd size is a MemoryError to
#: report, not the machine's memory
MEMORY_LIMIT = 6 << 30


@dataclass
class Result:
    """How a case ended: ``rc`` (None: killed by the time limit), seconds, and whether it left
    processes behind."""

    rc: int | None
    seconds: float
    timed_out: bool
    leftover: bool = False


# --------------------------------------------------------------------------- the server side
def _no_network() -> None:
    """The machine is offline as far as the commands know: every URL fails at once."""
    import urllib.error
    import urllib.request

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    urllib.request.urlopen = offline


def _redirect(req: dict) -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    if req.get("stdout_closed"):  # `| head -0`: the reader is gone
        r, w = os.pipe()
        os.close(r)
        os.dup2(w, 1)
    else:
        os.dup2(os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
    os.dup2(os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)


def _child(req: dict) -> None:
    rc = 1
    try:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))
        _redirect(req)
        os.chdir(req["cwd"])
        for k, v in req.get("env", {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sys.argv = ["vireid", *req["argv"]]
        from vireid.cli.main import main

        if "python" in req:  # the harness's own tests: a misbehaving command, in a few lines
            main = _misbehaving(req["python"])  # noqa: F811

        try:
            rc = main(req["argv"])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except BaseException:  # noqa: B036 - what `python -m vireid` would print
            traceback.print_exc()
            rc = 1
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe; the code is what counts
                pass
    finally:
        os._exit(int(rc) & 0xFF)


def _misbehaving(code: str):
    def main(argv):
        scope = {"argv": argv}
        exec(code, scope)  # noqa: S102 - test code the harness's tests send
        return scope.get("rc", 0)

    return main


def _wait(pid: int, timeout: float) -> tuple[int | None, bool]:
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), False
        if time.monotonic() > deadline:
            _kill_group(pid, grace=0)
            os.waitpid(pid, 0)
            return None, True
        time.sleep(pause)
        pause = min(pause * 1.5, 0.05)


#: seconds a case's helper processes may take to end after the command has (multiprocessing's
#: resource tracker ends when it sees its parent gone, a few milliseconds later)
GRACE = 2.0


def _kill_group(pgid: int, grace: float = GRACE) -> bool:
    """Kill what is left of a case's session after ``grace`` seconds; whether anything was."""
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


#: a fresh interpreter is offline too: every URL goes to a proxy that refuses at once
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}


def _exec(req: dict) -> Result:
    env = {**os.environ, **OFFLINE, **{k.upper(): v for k, v in OFFLINE.items()}}
    for k, v in req.get("env", {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    t0 = time.monotonic()
    with open(req["stdout"], "wb") as out, open(req["stderr"], "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vireid", *req["argv"]],
            cwd=req["cwd"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            rc = proc.wait(req["timeout"])
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, grace=0)
            proc.wait()
            rc, timed_out = None, True
    leftover = _kill_group(proc.pid)
    return Result(rc, time.monotonic() - t0, timed_out, leftover and not timed_out)


def serve() -> None:
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    _no_network()
    out = sys.stdout
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("exec"):
            result = _exec(req)
        else:
            t0 = time.monotonic()
            pid = os.fork()
            if pid == 0:
                _child(req)
            rc, timed_out = _wait(pid, req["timeout"])
            leftover = _kill_group(pid) and not timed_out
            result = Result(rc, time.monotonic() - t0, timed_out, leftover)
        out.write(json.dumps(result.__dict__) + "\n")
        out.flush()


# --------------------------------------------------------------------------- the client side
class Server:
    """A running fork server: ``run(argv, cwd=..., env=..., timeout=...)`` -> :class:`Result`.

    ``env``: variables the server starts with (the fuzz world's ``HOME``, caches...); a request's
    own ``env`` changes them for that case.
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        root = Path(__file__).resolve().parents[3]
        full = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cli.fuzz.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=full,
            cwd=root,
            text=True,
            encoding="utf-8",
        )
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError("the fuzz server did not start")

    def run(
        self,
        argv: list[str],
        *,
        cwd: Path,
        stdout: Path,
        stderr: Path,
        timeout: float,
        env: dict[str, str | None] | None = None,
        exec_: bool = False,
        stdout_closed: bool = False,
        python: str | None = None,
    ) -> Result:
        req = {
            "argv": argv,
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": str(stderr),
            "timeout": timeout,
            "env": env or {},
            "exec": exec_,
            "stdout_closed": stdout_closed,
            **({"python": python} if python is not None else {}),
        }
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fuzz server died")
        return Result(**json.loads(line))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve()
