"""Synthetic dataset generator speed (target: at least 200 images/s on 2 cores).

Measures, at the default crop size (96-160 px tall) and the default difficulty:

* end-to-end :func:`vireid.data.synth.generate` of the SYSU-layout "small" preset (80 ids,
  4 images per id and camera; render + JPEG encode + write + index files + rename), with
  1 and with 2 worker processes, timed alternately (median of repeats after a warm-up);
* the same with 1 worker per *CPU-second* of this process (``time.process_time``), a figure
  that other load on a shared machine does not distort;
* rendering alone (material map, shading, illumination, noise; no encode, no I/O) in-process.

There is no per-pixel reference renderer to compare with (the vectorised renderer is the only
one); the figures are absolute.  On a shared machine the 2-worker figure depends on how busy
the other core is.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks._common import cli, interleaved_times

TARGET = 200.0


def _render_rate(num_images: int) -> float:
    from vireid.data.synth.generator import render_job, resolve_params
    from vireid.data.synth.layouts import make_plan

    params = resolve_params("sysu", 80)
    jobs = make_plan("sysu", 0, 80, 4).jobs[:num_images]
    for job in jobs[:20]:
        render_job(params, job, 0.0)
    t0 = time.perf_counter()
    for job in jobs:
        render_job(params, job, 0.0)
    return len(jobs) / (time.perf_counter() - t0)


def run(quick: bool = False) -> list[dict]:
    from vireid.data.synth import generate

    num_ids = 30 if quick else 80
    tmp = Path(tempfile.mkdtemp(prefix="bench_synth-"))
    counts: dict[int, int] = {}

    def job(workers: int):
        def fn():
            counts[workers] = generate(
                tmp / f"w{workers}", "sysu", num_ids=num_ids, seed=0, workers=workers, force=True
            ).num_images

        return fn

    try:
        times = interleaved_times({"1": job(1), "2": job(2)}, repeats=2 if quick else 3, warmup=1)
        t_cpu = time.process_time()
        n = generate(tmp / "cpu", "sysu", num_ids=num_ids, seed=0, workers=1, force=True).num_images
        cpu_rate = n / (time.process_time() - t_cpu)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for w in (1, 2):
        rate = counts[w] / times[str(w)]
        note = f"{counts[w]} images, {num_ids} ids, SYSU layout, JPEG"
        if w == 2:
            note += f"; target >= {TARGET:.0f}/s on 2 cores: {'met' if rate >= TARGET else 'NOT met'}"
        rows.append(
            {"name": f"generate, {w} worker{'s' if w > 1 else ''}", "value": rate, "unit": "images/s", "note": note}
        )
    note = f"process CPU time, insensitive to other load (2 free cores: up to ~{2 * cpu_rate:.0f} images/s)"
    rows.append({"name": "generate, 1 worker, per CPU-second", "value": cpu_rate, "unit": "images/CPU-s", "note": note})
    rows.append(
        {
            "name": "render only, 1 process",
            "value": _render_rate(200 if quick else 600),
            "unit": "images/s",
            "note": "no encode / no I/O",
        }
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli("bench_synth", "Synthetic dataset generator", run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
