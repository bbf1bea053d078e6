"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only NAME ...] [--no-write]``.

Runs each benchmark module's ``run(quick)`` in turn, prints one table and writes each
module's section of ``benchmarks/RESULTS.md`` (see :mod:`benchmarks._common`).  The suite
(everything but the demo) takes about 12 minutes on the 2-core machine, ``--quick`` about 2;
the demo (``--only bench_demo``, 6.5 minutes) is the main job measured end to end and runs
only when named, as do ``bench_amp`` (fp32 vs bf16 steps, one thread, about 10 minutes) and the
step at the authors' size (``--only bench_train_step_authors``: about 25 CPU-minutes, 12 GB of RAM).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from benchmarks._common import report, table

# module name -> section title; run in this order
SUITE: dict[str, str] = {
    "bench_eval": "Evaluation: vectorised vs per-query loop",
    "bench_rerank": "k-reciprocal re-ranking",
    "bench_losses": "Losses: vectorised vs per-identity loop",
    "bench_svdo": "SVDO power iteration vs exact eigen-decomposition",
    "bench_activation_memory": "Activations per input byte (the config's memory estimate)",
    "bench_data": "Training data pipeline (decode + augmentation)",
    "bench_synth": "Synthetic dataset generator",
    "bench_vit_expansions": "DEEN-ViT expansion modules",
    "bench_search": "Cross-modal gallery search",
    "search_storage": "Search index storage: reading by position vs a memory map",
    "bench_onnx": "ONNX Runtime vs PyTorch eager (CPU, DEEN descriptor)",
    "bench_train_step": "DEEN training step: ours vs authors-style",
    "bench_amp": "DEEN training step: fp32 vs bf16 autocast, with and without float32 pins",
    "bench_train_step_authors": "DEEN training step at the authors' size (384x144, 6x4x2)",
    "bench_demo": "The demo (make demo)",
}


ON_REQUEST = ("bench_amp", "bench_demo", "bench_train_step_authors")  # not in the default suite; run with --only


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, about 2 minutes in all")
    ap.add_argument(
        "--only", nargs="*", default=None, help=f"run only these modules ({', '.join(ON_REQUEST)} runs only when named)"
    )
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args(argv)
    names = args.only or [n for n in SUITE if n not in ON_REQUEST]
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(SUITE)}")
    all_rows = []
    start = time.perf_counter()
    flags = ["--quick"] if args.quick else []
    for name in names:
        mod = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        rows = mod.run(quick=args.quick)
        print(f"[{name}] {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        report(
            name,
            SUITE[name],
            rows,
            write=not args.no_write,
            command=" ".join(["python -m benchmarks --only", name, *flags]),
        )
        all_rows += [dict(r, name=f"{name}: {r['name']}") for r in rows]
    print(table(all_rows))
    print(f"[suite] {len(names)} benchmarks in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
