"""DEEN-R50 training step at the authors' size: 384x144 images, 6 identities x 4 images x 2
modalities (``DEEN/train.py``: ``--img_h 384 --img_w 144 --batch-size 6 --num_pos 4``), 395
classes (SYSU-MM01).

The same step as :mod:`benchmarks.bench_train_step` (one batch from uint8 images already at the
input size -- the load-time Lanczos resize is done once, as the authors' ``.npy`` files hold --
augmentation, forward, every DEEN loss, backward, SGD step; same initial weights), variants
timed in rotated interleaved rounds and compared by paired ratios:

* ``authors-style fp32``: per-image PIL pipeline, Python-loop losses, PNL in the authors' order
  with the (N x N) affinity (:mod:`benchmarks.authors_style`);
* ``ours fp32``: what the paper configs run (``train.amp: none``);
* ``ours bf16``: ``train.amp=bf16`` (bfloat16 autocast; CPUs with native bf16 only).

Memory: bytes of the activations autograd saves for backward in one step (CPU: no allocator
statistics).  FLOPs: ``torch.utils.flop_counter`` over one fp32 step (convolutions and matrix
products, forward + backward), the basis of the one-GPU projection of a full run in README.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch

from benchmarks._common import cli, interleaved_samples, paired_ratio, saved_activation_bytes
from benchmarks.authors_style import authors_losses, authors_model
from benchmarks.bench_train_step import batch_makers, make_step
from vireid.core.device import Precision, cpu_has_native_bf16
from vireid.models import DEEN
from vireid.objective import build_objective

# SYSU-MM01 training set and the authors' sampler: N = max(#visible, #infrared),
# int(N / (batch_size * num_pos)) + 1 batches per epoch (DEEN/utils.py IdentitySampler)
SYSU_VISIBLE, SYSU_INFRARED = 22258, 11909
RECIPE_EPOCHS = 151  # DEEN/train.py: for epoch in range(0, 151)


def step_flops(step) -> int:
    """Floating-point operations of one call of ``step`` (forward + backward), by torch's counter."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def run(quick: bool = False) -> list[dict]:
    h, w, p, k, classes = (128, 48, 2, 2, 8) if quick else (384, 144, 6, 4, 395)
    rounds = 2 if quick else 5
    torch.manual_seed(0)
    n = p * k
    images = np.random.default_rng(0).integers(0, 256, size=(2 * n, h, w, 3), dtype=np.uint8)
    labels = torch.arange(p).repeat_interleave(k)
    model = DEEN(num_classes=classes, **({"base_channels": 16} if quick else {})).train()
    ref_model = authors_model(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
    crit = build_objective(model)
    authors_batch, our_batch = batch_makers(images, n, h, w)

    def our_loss(out):
        return sum(crit(out, labels, labels).values())

    fp32, bf16 = Precision(None, "cpu", False), Precision(torch.bfloat16, "cpu", False)
    fns = {
        "authors-style fp32": make_step(
            ref_model, ref_opt, authors_batch, lambda out: authors_losses(out, labels, labels), precision=fp32
        ),
        "ours fp32": make_step(model, opt, our_batch, our_loss, precision=fp32),
    }
    has_bf16 = cpu_has_native_bf16()
    if has_bf16:
        fns["ours bf16"] = make_step(model, opt, our_batch, our_loss, precision=bf16)
    samples = interleaved_samples(fns, repeats=rounds, warmup=1)
    size = f"DEEN-R50, {h}x{w}, batch {p}x{k}x2"
    ref = samples["authors-style fp32"]
    rows = []
    for name, ts in samples.items():
        note = "reference"
        if name != "authors-style fp32":
            mid, lo, hi = paired_ratio(ref, ts)
            note = (
                f"speed-up vs authors-style fp32: {mid:.3f}x (median of {len(ts)} paired rounds; "
                f"range {lo:.2f}-{hi:.2f})"
            )
        rows.append({"name": f"{name} step ({size})", "value": statistics.median(ts), "unit": "s", "note": note})
    for name, fn in fns.items():
        params = list((ref_model if name.startswith("authors") else model).parameters())
        rows.append(
            {
                "name": f"{name} step memory ({size})",
                "value": saved_activation_bytes(fn, params) / 2**20,
                "unit": "MiB",
                "note": "saved-for-backward activations",
            }
        )
    if not has_bf16:
        rows.append({"name": "ours bf16", "value": "n/a", "unit": "", "note": "this CPU has no native bf16"})
    flops = step_flops(fns["ours fp32"])
    steps = max(SYSU_VISIBLE, SYSU_INFRARED) // (6 * 4) + 1
    rows.append(
        {
            "name": f"ours fp32 step FLOPs ({size})",
            "value": flops / 1e12,
            "unit": "TFLOP",
            "note": "torch.utils.flop_counter, forward + backward",
        }
    )
    if not quick:
        total = flops * steps * RECIPE_EPOCHS
        rows.append(
            {
                "name": "SYSU-MM01 recipe training FLOPs",
                "value": total / 1e18,
                "unit": "EFLOP",
                "note": f"{steps} steps/epoch x {RECIPE_EPOCHS} epochs (authors' sampler count)",
            }
        )
        for tflops in (10, 20, 40):
            rows.append(
                {
                    "name": f"SYSU-MM01 recipe on one GPU at {tflops} TFLOP/s sustained",
                    "value": total / (tflops * 1e12) / 3600,
                    "unit": "h",
                    "note": "projection from the FLOP count (no GPU here), training steps only",
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli(
        "bench_train_step_authors", "DEEN training step at the authors' size (384x144, 6x4x2)", run, argv, __doc__
    )


if __name__ == "__main__":
    raise SystemExit(main())
