"""One measured command of ``benchmarks.rehearsal``: a child process and what it cost.

* wall time; CPU time (user + system) of the child and every descendant it waited for
  (DataLoader workers, rendering processes), from ``os.wait4``'s resource usage;
* peak memory: the child's peak RSS (``ru_maxrss``: the largest single process of the tree), and
  the peak of the whole process tree's summed proportional set size (PSS: pages shared by forked
  DataLoader workers counted once), sampled from ``/proc`` every second;
* bytes written: the size of the files added or grown under the phase's output folders.

``interrupt_when`` makes a phase an interrupted run: once it returns true the child gets SIGINT
(as Ctrl-C would), so ``vireid train`` stops after writing its epoch checkpoint.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Phase:
    """What one command cost (``rc`` 130: interrupted by SIGINT)."""

    name: str
    argv: list[str]
    rc: int
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    tree_pss_mib: float
    written_mib: float
    interrupted: bool = False
    log: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def tree_size(paths: Sequence[Path]) -> dict[str, int]:
    """``{file: bytes}`` of every file under ``paths`` (missing paths: nothing)."""
    out: dict[str, int] = {}
    for root in paths:
        root = Path(root)
        if root.is_file():
            out[str(root)] = root.stat().st_size
            continue
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = os.path.join(dirpath, f)
                try:
                    out[p] = os.stat(p).st_size
                except OSError:  # removed meanwhile (temporary files)
                    pass
    return out


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().rsplit(b")", 1)[1].split()
            kids.setdefault(int(stat[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return kids


def _pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (shared pages split among the processes sharing
    them, so forked DataLoader workers are not counted once each); its RSS where the kernel has
    no ``smaps_rollup``."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def tree_memory_bytes(pid: int) -> int:
    """Summed proportional set size of ``pid`` and its descendants (0 where ``/proc`` is not readable)."""
    if not os.path.isdir("/proc"):
        return 0
    kids, total, todo = _children(), 0, [pid]
    while todo:
        p = todo.pop()
        total += _pss(p)
        todo += kids.get(p, [])
    return total


def child_env(threads: int = 1) -> dict[str, str]:
    """The environment of a measured command: ``src`` importable, ``threads`` CPU threads."""
    env = dict(os.environ)
    extra = [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), *extra])
    env["PYTHONUNBUFFERED"] = "1"
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[key] = str(threads)
    return env


def vireid(*args: str) -> list[str]:
    """The argv of a ``vireid`` command run with this interpreter."""
    return [sys.executable, "-m", "vireid", *args]


def _default_sigint() -> None:
    """In the child before exec: SIGINT handled by default, so that Python turns it into
    KeyboardInterrupt even when this benchmark runs as a background job (which ignores SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_phase(
    name: str,
    argv: list[str],
    *,
    log: Path,
    outputs: Sequence[Path] = (),
    interrupt_when: Callable[[], bool] | None = None,
    threads: int = 1,
    timeout: float | None = None,
    echo: Callable[[str], None] | None = None,
    poll: float = 0.25,
) -> Phase:
    """Run ``argv`` (cwd: the repository), its output to ``log``; measure it (module docstring)."""
    before = tree_size(outputs)
    log.parent.mkdir(parents=True, exist_ok=True)
    peak_tree = 0
    interrupted = False
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(argv) + "\n")
        fh.flush()
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=child_env(threads),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            preexec_fn=_default_sigint,
        )
        done = threading.Event()

        def copy() -> None:  # each line with the seconds since the start, for per-step timings
            assert proc.stdout is not None
            for line in proc.stdout:
                fh.write(f"[{time.perf_counter() - t0:9.2f}] {line}")
                fh.flush()

        def watch() -> None:
            nonlocal peak_tree, interrupted
            sampled = 0.0
            while not done.wait(poll):
                if time.perf_counter() - sampled >= 1.0:
                    sampled = time.perf_counter()
                    peak_tree = max(peak_tree, tree_memory_bytes(proc.pid))
                if interrupt_when is not None and not interrupted and interrupt_when():
                    interrupted = True
                    os.kill(proc.pid, signal.SIGINT)
                    fh.write(f"[{time.perf_counter() - t0:9.2f}] <rehearsal: SIGINT sent>\n")
                if timeout is not None and time.perf_counter() - t0 > timeout:
                    os.kill(proc.pid, signal.SIGKILL)

        watcher = threading.Thread(target=watch, daemon=True)
        reader = threading.Thread(target=copy, daemon=True)
        watcher.start()
        reader.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            done.set()
            watcher.join()
            reader.join(timeout=30)
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    after = tree_size(outputs)
    grown = sum(max(0, size - before.get(path, 0)) for path, size in after.items())
    phase = Phase(
        name=name,
        argv=[str(a) for a in argv],
        rc=rc,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,
        tree_pss_mib=peak_tree / 2**20,
        written_mib=grown / 2**20,
        interrupted=interrupted,
        log=str(log),
    )
    if echo is not None:
        echo(
            f"{name}: rc {rc}, {wall:.1f} s wall, {phase.cpu_s:.1f} s CPU, peak RSS {phase.peak_rss_mib:.0f} MiB "
            f"(tree PSS {phase.tree_pss_mib:.0f} MiB), {phase.written_mib:.1f} MiB written"
        )
    return phase


_STAMP = re.compile(r"^\[\s*([0-9.]+)\] (.*)$")


def stamped_lines(path: str | Path) -> list[tuple[float, str]]:
    """``(seconds since the start, text)`` of each line a phase printed (its log)."""
    out = []
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _STAMP.match(line)
        if m:
            out.append((float(m.group(1)), m.group(2)))
    return out


def first_time(lines: list[tuple[float, str]], pattern: str, last: bool = False) -> float | None:
    """The time of the first (or last) line matching ``pattern``."""
    hits = [t for t, text in lines if re.search(pattern, text)]
    return (hits[-1] if last else hits[0]) if hits else None


def tail(path: str | Path, n: int = 5) -> str:
    try:
        return " | ".join(Path(path).read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return ""
