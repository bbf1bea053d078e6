"""The main job, measured: ``vireid demo`` (synthetic data -> train a small DEEN on CPU -> full protocol).

Runs the demo in a subprocess (as ``make demo`` does, dataset generation included when not cached)
into a temporary run folder and reports its wall time and the mean metrics of the untrained and
trained model (SYSU protocol on the synthetic benchmark, all-search, single-shot, 10 trials).
Targets: <= 10 minutes on the 2-core machine, Rank-1 >= 70 %.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import cli

ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        cmd = [sys.executable, "-m", "vireid", "demo", "--out", str(out)]
        if quick:
            cmd += ["train.epochs=2", "eval.every=0"]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        trained = json.loads((out / "metrics.json").read_text())["mean"]
        untrained = json.loads((out / "metrics_untrained.json").read_text())["mean"]
    rows = [
        {
            "name": "vireid demo wall time" + (" (quick: 2 epochs)" if quick else ""),
            "value": wall / 60,
            "unit": "min",
            "note": "target <= 10 min",
        }
    ]
    for name, m in (("untrained", untrained), ("trained DEEN", trained)):
        for k in ("rank1", "mAP", "mINP"):
            note = "target >= 70 %" if (name != "untrained" and k == "rank1") else ""
            rows.append({"name": f"{name} {k}", "value": 100 * m[k], "unit": "%", "note": note})
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli("bench_demo", "The demo (make demo)", run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
