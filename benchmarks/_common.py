"""Shared helpers for benchmarks: timing, machine facts, and RESULTS.md sections.

Every benchmark module exposes ``run(quick: bool) -> list[dict]`` whose rows have keys
``name``, ``value``, ``unit`` and optionally ``note``; :func:`report` prints them as a
markdown table and writes them into ``benchmarks/RESULTS.md`` between markers
``<!-- bench:NAME -->`` / ``<!-- /bench:NAME -->``, stamped with the machine, the
command, the date and the commit.  Nothing in RESULTS.md is typed by hand.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

if TYPE_CHECKING:
    import torch

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nWritten by the benchmark and ablation commands; do not edit by hand.\n"


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time (s) of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_samples(
    fns: dict[str, Callable[[], object]],
    repeats: int = 5,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Wall times (or ``clock``'s, e.g. ``time.process_time`` for CPU time) of several functions
    measured alternately, so that machine noise hits all of them alike: ``{name: [time per
    round]}``.  Round ``r`` starts with function ``r mod n`` (A B C, B C A, C A B, ...), so no
    function always runs first or right after another."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        for i in range(len(names)):
            k = names[(r + i) % len(names)]
            t0 = clock()
            fns[k]()
            times[k].append(clock() - t0)
    return times


def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median times of several functions measured alternately; use for side-by-side ratios."""
    return {k: statistics.median(v) for k, v in interleaved_samples(fns, repeats, warmup).items()}


def paired_ratio(ref: Sequence[float], other: Sequence[float]) -> tuple[float, float, float]:
    """Median, min and max over rounds of ``ref[i] / other[i]`` (times taken side by side in
    round ``i``): less sensitive to slow drifts of a shared machine than a ratio of medians."""
    ratios = sorted(r / o for r, o in zip(ref, other, strict=True))
    return statistics.median(ratios), ratios[0], ratios[-1]


def saved_activation_bytes(fn: Callable[[], None], exclude: list[torch.Tensor]) -> int:
    """Bytes of the unique storages autograd saves for backward while ``fn`` runs (``exclude`` not counted)."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in skip:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    import torch  # noqa: F811 (torch stays an optional import of this module)

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}"
    )


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table(rows: Sequence[dict]) -> str:
    lines = ["| benchmark | value | unit | note |", "|---|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {fmt(r['value'])} | {r.get('unit', '')} | {r.get('note', '')} |")
    return "\n".join(lines)


def section(title: str, body: str, command: str) -> str:
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"## {title}\n\n- command: `{command}`\n- machine: {machine()}\n- date: {date}\n"
        f"- commit: {commit()}\n\n{body}\n"
    )


def write_section(key: str, text: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section ``key`` in RESULTS.md atomically."""
    from vireid.utils.io import atomic_write_text

    old = path.read_text() if path.exists() else HEADER
    start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    new = pattern.sub(lambda _m: block, old) if pattern.search(old) else old.rstrip() + "\n\n" + block + "\n"
    atomic_write_text(path, new)


def publish(
    key: str,
    title: str,
    body: str,
    argv: Iterable[str] | None = None,
    write: bool = True,
    command: str | None = None,
    module: str | None = None,
) -> str:
    """Print ``body`` as a section (command, machine, date, commit) and store it as section ``key``
    of RESULTS.md; the command is ``python -m benchmarks.<module or key>`` with ``argv``."""
    if command is None:
        argv = list(sys.argv[1:] if argv is None else argv)
        command = " ".join(["python -m", f"benchmarks.{module or key}", *argv])
    text = section(title, body, command)
    print(text)
    if write:
        write_section(key, text)
    return text


def report(
    key: str,
    title: str,
    rows: Sequence[dict],
    argv: Iterable[str] | None = None,
    write: bool = True,
    command: str | None = None,
) -> str:
    """Print the rows as a table and store them as section ``key`` of RESULTS.md."""
    return publish(key, title, table(rows), argv, write, command)


def cli(
    key: str,
    title: str,
    run: Callable[..., Sequence[dict]],
    argv: list[str] | None = None,
    description: str | None = None,
    options: dict[str, dict] | None = None,
) -> int:
    """The ``main`` of a benchmark module: ``--quick``, ``--no-write`` and ``options``
    (``{"--device": {"default": "cpu"}}``: argparse keywords), the latter passed to ``run``."""
    import argparse

    ap = argparse.ArgumentParser(
        prog=f"python -m benchmarks.{key}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    ap.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    for flag, kwargs in (options or {}).items():
        ap.add_argument(flag, **kwargs)
    args = vars(ap.parse_args(argv))
    quick, write = args.pop("quick"), not args.pop("no_write")
    report(key, title, run(quick=quick, **args), argv=argv, write=write)
    return 0
