"""DEEN-R50 training step: ours vs a step written the way the authors' code is written.

Each variant prepares one batch (P identities x K visible + K infrared images, from images
preloaded as uint8 arrays) and runs forward, losses, backward and an SGD step on DEEN
(same weights).  Variants are timed alternately (rounds rotated: A B C, B C A, ...) so
machine noise hits them alike; the figure is the median step time, and ratios are
reference / ours, paired per round.

* ``authors-style fp32``: per-image PIL pipeline, Python-loop losses, PNL multiplied in the
  authors' order with the (N x N) affinity (benchmarks/authors_style.py).
* ``ours fp32``: vireid's array pipeline (``vireid.data.transforms``), vectorised
  losses (``vireid.objective.build_objective``) and PNL in the cheaper association.
* ``ours bf16``: + bfloat16 autocast (CPU with native bf16 only).
* ``ours bf16 + channels_last``.
"""

from __future__ import annotations

import contextlib
import random
import statistics
from typing import Callable

import numpy as np
import torch

from benchmarks._common import cli, interleaved_samples, paired_ratio, saved_activation_bytes
from benchmarks.authors_style import authors_losses, authors_model, pil_transform
from vireid.core.device import Precision, cpu_has_native_bf16
from vireid.data.transforms import deen_train_transform
from vireid.models import DEEN
from vireid.models.base import MODAL_BOTH
from vireid.objective import build_objective


def _setup(quick: bool):
    h, w = (128, 64) if quick else (288, 144)
    p, k = (2, 2) if quick else (3, 2)
    base = 16 if quick else 64
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2 * p * k, h, w, 3), dtype=np.uint8)
    labels = torch.arange(p).repeat_interleave(k)
    return h, w, p, k, base, images, labels


def make_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    batch_fn: Callable[[], tuple],
    loss_fn: Callable[[object], torch.Tensor],
    *,
    precision: Precision | None = None,
    channels_last: bool = False,
    device: torch.device | None = None,
    sync: Callable[[], None] | None = None,
) -> Callable[[], None]:
    """One training step as a closure: ``batch_fn()`` -> (x_vis, x_ir) (moved to ``device`` if
    given), forward under ``precision``'s autocast, ``loss_fn(out)``, backward (through the
    precision's GradScaler for fp16) and the optimizer step; ``sync()`` last (CUDA timing)."""
    scaler = precision.scaler() if precision is not None else None

    def _run() -> None:
        x_vis, x_ir = batch_fn()
        if device is not None:
            nb = device.type == "cuda"
            x_vis, x_ir = x_vis.to(device, non_blocking=nb), x_ir.to(device, non_blocking=nb)
        if channels_last:
            x_vis = x_vis.contiguous(memory_format=torch.channels_last)
            x_ir = x_ir.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        with precision.autocast() if precision is not None else contextlib.nullcontext():
            out = model(x_vis, x_ir, MODAL_BOTH)
        loss = loss_fn(out)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        if sync is not None:
            sync()

    return _run


def batch_makers(images: np.ndarray, n: int, h: int, w: int) -> tuple[Callable[[], tuple], Callable[[], tuple]]:
    """(authors-style PIL batch, our NumPy batch) makers over ``images`` (first ``n`` visible, rest infrared)."""
    transform = deen_train_transform("sysu", height=h, width=w)
    rnd, nrng = random.Random(0), np.random.default_rng(0)

    def authors_batch():
        return (
            torch.stack([pil_transform(a, h, w, rnd) for a in images[:n]]),
            torch.stack([pil_transform(a, h, w, rnd) for a in images[n:]]),
        )

    def our_batch():
        return (
            torch.stack([transform(a, nrng) for a in images[:n]]),
            torch.stack([transform(a, nrng) for a in images[n:]]),
        )

    return authors_batch, our_batch


def run(quick: bool = False) -> list[dict]:
    torch.manual_seed(0)
    h, w, p, k, base, images, labels = _setup(quick)
    n = p * k
    model = DEEN(num_classes=p, base_channels=base).train()
    ref_model = authors_model(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
    crit = build_objective(model)
    authors_batch, our_batch = batch_makers(images, n, h, w)
    fp32, bf16_cpu = Precision(None, "cpu", False), Precision(torch.bfloat16, "cpu", False)

    def step(batch_fn, loss_fn, autocast=None, channels_last=False, model=model, opt=opt):
        return make_step(
            model, opt, batch_fn, loss_fn, precision=bf16_cpu if autocast else fp32, channels_last=channels_last
        )

    def our_loss(out):
        return sum(crit(out, labels, labels).values())

    def ref_loss(out):
        return authors_losses(out, labels, labels)

    fns = {
        "authors-style fp32": step(authors_batch, ref_loss, model=ref_model, opt=ref_opt),
        "ours fp32": step(our_batch, our_loss),
    }
    bf16 = cpu_has_native_bf16()
    if bf16:
        fns["ours bf16"] = step(our_batch, our_loss, autocast=True)
        fns["ours bf16 + channels_last"] = step(our_batch, our_loss, autocast=True, channels_last=True)
    fns["ours fp32 + channels_last"] = step(our_batch, our_loss, channels_last=True)
    samples = interleaved_samples(fns, repeats=3 if quick else 7, warmup=1)
    ref = samples["authors-style fp32"]
    size = f"DEEN base {base}, {h}x{w}, batch {p}x{k}x2"
    rows = []
    for name, ts in samples.items():
        note = "reference"
        if not name.startswith("authors"):
            mid, lo, hi = paired_ratio(ref, ts)
            note = f"speed-up vs authors-style: {mid:.3f}x (median of {len(ts)} paired rounds; range {lo:.2f}-{hi:.2f})"
        rows.append({"name": f"{name} step ({size})", "value": statistics.median(ts), "unit": "s", "note": note})
    for name in fns:
        params = list((ref_model if name.startswith("authors") else model).parameters())
        mem = saved_activation_bytes(fns[name], params)
        rows.append(
            {
                "name": f"{name} step memory ({size})",
                "value": mem / 2**20,
                "unit": "MiB",
                "note": "CPU: saved-for-backward activations (no allocator statistics on CPU)",
            }
        )
    if not bf16:
        rows.append(
            {"name": "bf16 autocast", "value": "n/a", "unit": "", "note": "this CPU has no native bf16; not measured"}
        )
    if not torch.cuda.is_available():
        rows.append(
            {
                "name": "CUDA step (AMP bf16, channels_last, compile on/off)",
                "value": "n/a",
                "unit": "",
                "note": "needs a GPU; none on this machine (python -m benchmarks.gpu_check measures them)",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli("bench_train_step", "DEEN training step: ours vs authors-style", run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
