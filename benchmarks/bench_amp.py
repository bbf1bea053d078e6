"""DEEN training step in fp32, plain bf16 autocast and vireid's bf16 (autocast + float32 pins).

One step = forward, the DEEN criterion, backward and an SGD step on the same model and
batch (random images; the data pipeline is timed in bench_train_step).  ``plain`` switches
the pins off (``vireid.utils.precision.fp32_pins``): what autocast alone gives.  The three
variants are timed alternately in rotated rounds (A B C, B C A, ...), so machine noise hits
them alike; the figures are median step times and speed-ups paired per round.  One thread by
default (``--threads``), as the demo runs of benchmarks/precision_accuracy.py, and then the
clock is the process's CPU time, which other jobs on a shared machine disturb far less than
wall time (there, wall times of one step varied 4x between rounds).
Sizes: DEEN-R50 at 288x144 with batch 3 x 2 x 2 (``--quick``: base 16 at 128x64), and the
demo DEEN (configs/synthetic.yaml: base 16, layers 1-1-1-1, 64x32, batch 12 x 2 x 2).
"""

from __future__ import annotations

import statistics
import time

import torch

from benchmarks._common import cli, interleaved_samples, paired_ratio
from vireid.core.device import cpu_has_native_bf16
from vireid.models import DEEN
from vireid.objective import build_objective
from vireid.utils.precision import fp32_pins


def _steps(base: int, layers, h: int, w: int, p: int, k: int, loss_terms: dict):
    torch.manual_seed(0)
    model = DEEN(num_classes=max(p, 8), base_channels=base, layers=layers).train()
    model = model.to(memory_format=torch.channels_last)
    criterion = build_objective(model, loss_terms)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x_vis = torch.randn(p * k, 3, h, w, generator=g).contiguous(memory_format=torch.channels_last)
    x_ir = torch.randn(p * k, 3, h, w, generator=g).contiguous(memory_format=torch.channels_last)
    labels = torch.arange(p).repeat_interleave(k)

    def step(dtype, pins: bool):
        def _run():
            ctx = torch.autocast("cpu", dtype=dtype) if dtype else torch.autocast("cpu", enabled=False)
            with fp32_pins(pins):
                with ctx:
                    out = model(x_vis, x_ir, 0)
                loss = sum(criterion(out, labels, labels).values())
                opt.zero_grad(set_to_none=True)
                loss.backward()
            opt.step()

        return _run

    return {
        "fp32": step(None, True),
        "bf16 plain": step(torch.bfloat16, False),
        "bf16 vireid": step(torch.bfloat16, True),
    }


def run(quick: bool = False, threads: int = 1) -> list[dict]:
    if threads:
        torch.set_num_threads(threads)
    if not cpu_has_native_bf16():
        return [{"name": "bf16 autocast", "value": "n/a", "unit": "", "note": "this CPU has no native bf16"}]
    sizes = [
        (
            "DEEN-R50 base 16, 128x64, batch 3x2x2" if quick else "DEEN-R50, 288x144, batch 3x2x2",
            (16 if quick else 64, (3, 4, 6, 3), 128 if quick else 288, 64 if quick else 144, 3, 2),
            {},
        ),
        (
            "demo DEEN (base 16, layers 1-1-1-1), 64x32, batch 12x2x2",
            (16, (1, 1, 1, 1), 64, 32, 12, 2),
            {"triplet": {"weight": 3.0}, "cpm": {"weight": 2.4}},
        ),
    ]
    rows = []
    for size, args, loss_terms in sizes:
        clock = time.process_time if torch.get_num_threads() == 1 else time.perf_counter
        samples = interleaved_samples(_steps(*args, loss_terms), repeats=5 if quick else 15, warmup=2, clock=clock)
        ref = samples["fp32"]
        for name, ts in samples.items():
            note = "reference"
            if name != "fp32":
                mid, lo, hi = paired_ratio(ref, ts)
                note = f"speed-up vs fp32: {mid:.2f}x (median of {len(ts)} paired rounds; range {lo:.2f}-{hi:.2f})"
            rows.append({"name": f"{name} step ({size})", "value": statistics.median(ts), "unit": "s", "note": note})
        mid, lo, hi = paired_ratio(samples["bf16 plain"], samples["bf16 vireid"])
        rows.append(
            {
                "name": f"cost of the float32 pins ({size})",
                "value": 1 / mid,
                "unit": "x",
                "note": f"bf16 vireid / bf16 plain step time, median of paired rounds "
                f"(range {1 / hi:.2f}-{1 / lo:.2f})",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli(
        "bench_amp",
        "DEEN training step: fp32 vs bf16 autocast, with and without float32 pins",
        run,
        argv,
        __doc__,
        options={
            "--threads": {
                "type": int,
                "default": 1,
                "help": "torch threads (default 1: the shared machine; 0: torch's)",
            }
        },
    )


if __name__ == "__main__":
    raise SystemExit(main())
