"""Accuracy of the demo DEEN trained in fp32 and in bf16 autocast (with vireid's float32 pins).

Each run is the demo recipe (``vireid train --config configs/synthetic.yaml``) with
``train.amp=none`` or ``train.amp=bf16``, seeds 0, 1, 2, one compute thread; the figures are
the final full-protocol evaluation in its ``metrics.json`` (best checkpoint, 10-trial mean,
SYSU-MM01 all-search single-shot on the synthetic benchmark).  The same seed gives both
precisions the same initial weights and batches, so the comparison is paired: the table
gives mean +- std over seeds and a 95 % confidence interval (Student t) of the mean
bf16 - fp32 difference.  ``--run`` trains the missing runs one after the other (~25-45 min
each on the shared 2-core machine), then writes the table.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks._common import publish

RUNS = Path("runs/precision")
AMPS = {"fp32": "none", "bf16": "bf16"}
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def command(name: str, seed: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vireid",
        "train",
        "--config",
        "configs/synthetic.yaml",
        "--out",
        str(RUNS / f"{name}_s{seed}"),
        "--quiet",
        f"train.amp={AMPS[name]}",
        f"train.seed={seed}",
        "train.threads=1",
    ]


def load(name: str, seed: int) -> dict | None:
    path = RUNS / f"{name}_s{seed}" / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def interval(diffs: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % confidence interval of paired differences."""
    n = len(diffs)
    mean = statistics.fmean(diffs)
    half = T975[n - 1] * statistics.stdev(diffs) / math.sqrt(n) if n > 1 else float("nan")
    return mean, mean - half, mean + half


def table(seeds: list[int]) -> str:
    runs = {(n, s): load(n, s) for n in AMPS for s in seeds}
    done = [s for s in seeds if all(runs[(n, s)] for n in AMPS)]
    if not done:
        return "no finished pair of runs yet"
    lines = [
        "| seed | fp32 Rank-1 | bf16 Rank-1 | diff | fp32 mAP | bf16 mAP | diff | fp32 train min | bf16 train min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    vals = {(n, m): [100 * runs[(n, s)]["mean"][m] for s in done] for n in AMPS for m in ("rank1", "mAP")}
    mins = {n: [runs[(n, s)]["train_seconds"] / 60 for s in done] for n in AMPS}
    for i, s in enumerate(done):
        r = [vals[(n, "rank1")][i] for n in AMPS]
        a = [vals[(n, "mAP")][i] for n in AMPS]
        lines.append(
            f"| {s} | {r[0]:.2f} | {r[1]:.2f} | {r[1] - r[0]:+.2f} | {a[0]:.2f} | {a[1]:.2f} | "
            f"{a[1] - a[0]:+.2f} | {mins['fp32'][i]:.1f} | {mins['bf16'][i]:.1f} |"
        )

    def ms(v: list[float]) -> str:
        return f"{statistics.fmean(v):.2f} +- {statistics.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"

    cells = []
    for m in ("rank1", "mAP"):
        d = [b - f for f, b in zip(vals[("fp32", m)], vals[("bf16", m)], strict=True)]
        mean, lo, hi = interval(d)
        cells.append((ms(vals[("fp32", m)]), ms(vals[("bf16", m)]), f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}]"))
    lines.append(
        f"| mean +- std | {cells[0][0]} | {cells[0][1]} | {cells[0][2]} | {cells[1][0]} | {cells[1][1]} | "
        f"{cells[1][2]} | {ms(mins['fp32'])} | {ms(mins['bf16'])} |"
    )
    note = (
        f"\n\n{len(done)} seed(s); diff = bf16 - fp32 in points, mean [95 % CI of the paired difference, "
        f"Student t with {len(done) - 1} d.f.]. Train minutes include the periodic 1-trial evaluations; other "
        "jobs shared the 2 cores, so they are indicative only (bench_amp times the step)."
    )
    missing = [f"{n}_s{s}" for n in AMPS for s in seeds if not runs[(n, s)]]
    if missing:
        note += f" Missing runs: {', '.join(missing)}."
    return "\n".join(lines) + note


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.precision_accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--run", action="store_true", help="train the missing runs first (sequentially)")
    ap.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    if args.run:
        for s in args.seeds:
            for n in AMPS:
                if load(n, s) is None:
                    subprocess.run(command(n, s), check=True)
    body = table(args.seeds)
    shown = " ".join(["vireid"] + command("bf16", 0)[3:])
    for a, b in (
        ("bf16_s0", "{fp32,bf16}_s{seed}"),
        ("train.amp=bf16", "train.amp={none,bf16}"),
        ("train.seed=0", "train.seed={seed}"),
    ):
        shown = shown.replace(a, b)
    body += f"\n\nRuns: `{shown}` for seeds {', '.join(map(str, args.seeds))} (none = fp32)."
    publish(
        "precision_accuracy",
        "Accuracy: demo DEEN trained in fp32 vs bf16 autocast (3 seeds)",
        body,
        argv,
        not args.no_write,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
