"""Shared pieces of ``benchmarks.gpu_check``: settings, result rows, progress lines.

A *row* is a dict ``{section, name, value, unit, status, note}`` (``status``: ``ok``,
``skip`` or ``fail``) plus optional ``data`` (numbers later sections reuse, e.g. step
times for the epoch projection).  :class:`Rows` collects them and, when given a path,
rewrites a JSON file after every row, so a section that is killed still leaves what it
measured.
"""

from __future__ import annotations

import collections
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
T0_ENV = "VIREID_GPU_CHECK_T0"  # the run's start (time.time()), inherited by child processes
_T0 = time.time()


def say(msg: str) -> None:
    """One progress line (flushed at once, so a partial run is still informative)."""
    t0 = float(os.environ.get(T0_ENV, _T0))
    print(f"[gpu_check {time.time() - t0:6.1f}s] {msg}", flush=True)


@dataclass
class Settings:
    """What every section needs: sizes (``dry``/``quick``), device and scratch folder."""

    dry: bool = False
    quick: bool = False
    work: Path = field(default_factory=lambda: Path("."))
    compile_backend: str = "inductor"
    ddp_procs: int = 0  # 0: 2 processes when 2+ GPUs are visible, else one

    @property
    def device(self):
        import torch

        return torch.device("cpu" if self.dry else "cuda")

    @property
    def cuda(self) -> bool:
        return not self.dry

    @property
    def mode(self) -> str:
        return "dry" if self.dry else ("quick" if self.quick else "full")

    def flags(self) -> list[str]:
        """Command-line flags that rebuild these settings in a child process."""
        out = ["--work", str(self.work), "--compile-backend", self.compile_backend, "--ddp-procs", str(self.ddp_procs)]
        return out + (["--dry"] if self.dry else []) + (["--quick"] if self.quick else [])

    def sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()


def row(section: str, name: str, value: Any, unit: str = "", note: str = "", status: str = "ok", **data: Any) -> dict:
    r = {"section": section, "name": name, "value": value, "unit": unit, "status": status, "note": note}
    if data:
        r["data"] = data
    return r


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail_row(section: str, name: str, exc: BaseException | str) -> dict:
    note = exc if isinstance(exc, str) else one_line(exc)
    return row(section, name, "FAILED", "", note, status="fail")


def skip_row(section: str, name: str, why: str) -> dict:
    return row(section, name, "skipped", "", why, status="skip")


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def write_json(path: Path, obj: Any) -> None:
    """Write JSON through a temporary file and a rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_jsonable(obj), indent=1, sort_keys=True))
    os.replace(tmp, path)


class Rows(list):
    """The rows of one section; ``add`` prints the row and saves all rows to ``path``."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = path

    def add(self, r: dict) -> dict:
        self.append(r)
        val = r["value"]
        shown = f"{val:.4g}" if isinstance(val, float) else str(val)
        say(f"{r['section']}: {r['name']} = {shown} {r['unit']} [{r['status']}] {r['note']}".rstrip())
        if self.path is not None:
            write_json(self.path, list(self))
        return r


def gib(n_bytes: float) -> float:
    return n_bytes / 2**30


def mib(n_bytes: float) -> float:
    return n_bytes / 2**20


def python_path_env() -> dict[str, str]:
    """The environment of a child process: ``src`` and the repository root importable."""
    env = dict(os.environ)
    parts = [str(REPO / "src"), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def python() -> str:
    return sys.executable or "python3"


def stream(cmd: list[str], timeout: float, on_line: Callable[[str], None]) -> tuple[int | None, list[str]]:
    """Run ``cmd`` (cwd: the repository, ``src`` importable) in its own process group, passing
    each output line to ``on_line``; after ``timeout`` seconds the whole group is killed.
    Returns ``(exit code or None on timeout, the last 40 lines)``."""
    tail: collections.deque[str] = collections.deque(maxlen=40)
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=python_path_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,
    )

    def relay() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            on_line(line.rstrip("\n"))

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    rc: int | None
    try:
        rc = proc.wait(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        if proc.poll() is None:  # timed out, or interrupted: end the child and everything it started
            _kill_group(proc)
    reader.join(timeout=10)
    return rc, list(tail)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
