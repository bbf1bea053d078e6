"""DEEN-R50 training step on the GPU: the authors'-style step against ours in fp32, AMP fp16 +
GradScaler, bf16, bf16 + channels_last (and ``torch.compile``, section ``compile``), then the
SYSU-MM01 epoch / recipe projection.

The step is :func:`benchmarks.bench_train_step.make_step`: a pre-augmented batch (pinned CPU
memory, a pool of a few, as a DataLoader worker hands it over) copied to the device, forward,
losses, backward, SGD step, ``torch.cuda.synchronize()``.  Augmentation is timed apart, on one
CPU thread, as it runs in the loader workers in parallel with the GPU.  ``cudnn.benchmark`` is
on, as ``DEEN/train.py`` sets it; one extra variant runs with it off (vireid's trainer does not
set it).  Variants are timed in rotated interleaved rounds; ratios are paired per round.
"""

from __future__ import annotations

import copy
import math
import random
import statistics
import time
from typing import Callable

import numpy as np
import torch

from benchmarks._common import interleaved_samples, paired_ratio, saved_activation_bytes
from benchmarks._gpu_common import Rows, Settings, fail_row, mib, one_line, row, say, skip_row
from benchmarks.authors_style import authors_losses, authors_model, pil_transform
from benchmarks.bench_train_step import make_step
from vireid.core.device import resolve_amp
from vireid.data.transforms import deen_train_transform
from vireid.models import DEEN
from vireid.objective import build_objective

# SYSU-MM01 training set and the authors' sampler (DEEN/data_manager.py IdentitySampler:
# N = max(#visible, #infrared); int(N / (batch_size * num_pos)) + 1 batches per epoch)
SYSU_VISIBLE, SYSU_INFRARED = 22258, 11909
RECIPE_EPOCHS = 151
AUTHORS = "authors-style fp32"


def sizes(s: Settings) -> dict:
    if s.dry:
        return dict(
            h=32,
            w=16,
            p=2,
            k=2,
            classes=4,
            model=dict(base_channels=4, layers=(1, 1, 1, 1)),
            rounds=2,
            warmup=1,
            pool=1,
        )
    return dict(
        h=384,
        w=144,
        p=6,
        k=4,
        classes=395,
        model={},
        rounds=4 if s.quick else 10,
        warmup=2 if s.quick else 3,
        pool=2 if s.quick else 4,
    )


def steps_per_epoch(p: int = 6, k: int = 4) -> int:
    return max(SYSU_VISIBLE, SYSU_INFRARED) // (p * k) + 1


class Bench:
    """Models (same initial weights), batch pools and losses for one comparison."""

    def __init__(self, s: Settings, model_kwargs: dict | None = None) -> None:
        z = sizes(s)
        self.s, self.z, self.dev = s, z, s.device
        torch.manual_seed(0)
        self.n = z["p"] * z["k"]
        ids = torch.randperm(z["classes"])[: z["p"]]
        self.labels = ids.repeat_interleave(z["k"]).to(self.dev)
        self.model = DEEN(num_classes=z["classes"], **(model_kwargs or z["model"])).train()
        self.ref_model = authors_model(self.model).to(self.dev)
        self.cl_model = copy.deepcopy(self.model).to(self.dev, memory_format=torch.channels_last)
        self.model = self.model.to(self.dev)
        self.crit = build_objective(self.model)
        self.opts: list[torch.optim.Optimizer] = []
        self.aug_s: dict[str, float] = {}
        self.ours_pool = self._pool("ours", self._ours_sample())
        self.ref_pool = self._pool("authors", self._ref_sample())

    def _ours_sample(self) -> Callable[[np.ndarray], torch.Tensor]:
        t, rng = deen_train_transform("sysu", height=self.z["h"], width=self.z["w"]), np.random.default_rng(0)
        return lambda a: t(a, rng)

    def _ref_sample(self) -> Callable[[np.ndarray], torch.Tensor]:
        rnd = random.Random(0)
        return lambda a: pil_transform(a, self.z["h"], self.z["w"], rnd)

    def _pool(self, name: str, sample: Callable[[np.ndarray], torch.Tensor]) -> list[tuple]:
        """Pre-augmented batches; the median time of one batch on one thread -> ``aug_s[name]``."""
        h, w, n = self.z["h"], self.z["w"], self.n
        images = np.random.default_rng(1).integers(0, 256, size=(2 * n, h, w, 3), dtype=np.uint8)
        pool, times = [], []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for _ in range(self.z["pool"]):
                t0 = time.perf_counter()
                x_vis = torch.stack([sample(a) for a in images[:n]])
                x_ir = torch.stack([sample(a) for a in images[n:]])
                times.append(time.perf_counter() - t0)
                if self.s.cuda:
                    x_vis, x_ir = x_vis.pin_memory(), x_ir.pin_memory()
                pool.append((x_vis, x_ir))
        finally:
            torch.set_num_threads(threads)
        self.aug_s[name] = statistics.median(times)
        return pool

    def step(
        self, name: str, precision: str = "none", channels_last: bool = False, compiled: torch.nn.Module | None = None
    ) -> Callable[[], None]:
        authors = name.startswith("authors")
        model = self.ref_model if authors else (self.cl_model if channels_last else self.model)
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
        self.opts.append(opt)
        pool = self.ref_pool if authors else self.ours_pool
        it = iter(range(1 << 62))

        def batch() -> tuple:
            return pool[next(it) % len(pool)]

        def loss(out) -> torch.Tensor:
            if authors:
                return authors_losses(out, self.labels, self.labels)
            return sum(self.crit(out, self.labels, self.labels).values())

        return make_step(
            compiled if compiled is not None else model,
            opt,
            batch,
            loss,
            precision=resolve_amp(precision, self.dev),
            channels_last=channels_last,
            device=self.dev,
            sync=self.s.sync,
        )

    def peak_memory(self, fn: Callable[[], None], name: str) -> tuple[float, str]:
        """(MiB, how): CUDA peak ``max_memory_allocated`` during one step above what was resident
        before it (weights, optimizer states of all models); on the CPU, saved activations."""
        for opt in self.opts:
            opt.zero_grad(set_to_none=True)
        if not self.s.cuda:
            model = (
                self.ref_model
                if name.startswith("authors")
                else self.cl_model
                if "channels_last" in name
                else self.model
            )
            params = list(model.parameters())
            return mib(saved_activation_bytes(fn, params)), "CPU dry run: saved-for-backward activations"
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        peak = torch.cuda.max_memory_allocated()
        return mib(peak - base), f"absolute peak {mib(peak):.0f} MiB incl. {mib(base):.0f} MiB resident"


def _warm(name: str, fn: Callable[[], None], n: int, rows: Rows, section: str) -> list[float] | None:
    """Run ``n`` warm-up steps; a failing variant becomes a failed row and is dropped."""
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return times
    except Exception as exc:  # noqa: BLE001 - report and go on with the other variants
        rows.add(fail_row(section, f"{name} step", exc))
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return None


def _without_cudnn_benchmark(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        torch.backends.cudnn.benchmark = False
        try:
            fn()
        finally:
            torch.backends.cudnn.benchmark = True

    return run


def _report(
    b: Bench,
    samples: dict[str, list[float]],
    rows: Rows,
    section: str,
    size: str,
    project: Callable[[str], bool] = lambda name: True,
) -> None:
    """One row per variant (images/s); ``project(name)``: its step time feeds the projection."""
    imgs = 2 * b.n
    ours = samples.get("ours fp32")
    for name, ts in samples.items():
        med = statistics.median(ts)
        note = f"step {1e3 * med:.1f} ms"
        if name != AUTHORS and AUTHORS in samples:
            mid, lo, hi = paired_ratio(samples[AUTHORS], ts)
            note += f"; {mid:.2f}x authors-style (paired, {len(ts)} rounds, {lo:.2f}-{hi:.2f})"
        if ours is not None and name not in (AUTHORS, "ours fp32"):
            note += f"; {paired_ratio(ours, ts)[0]:.2f}x ours fp32"
        data = {"variant": name, "step_s" if project(name) else "step_s_other_model": med}
        rows.add(row(section, f"{name} ({size})", imgs / med, "img/s", note, **data))


def run_step(s: Settings, rows: Rows) -> None:
    """Section ``step``: every precision / memory-format variant, eager."""
    b = Bench(s)
    z = b.z
    size = f"{z['h']}x{z['w']}, {z['p']}x{z['k']}x2"
    say(f"step: models and batch pools ready ({size}, DEEN {'tiny' if s.dry else 'R50'})")
    if s.cuda:
        torch.backends.cudnn.benchmark = True
    specs = [
        (AUTHORS, (AUTHORS,), {}),
        ("ours fp32", ("ours",), {}),
        ("ours AMP fp16 + GradScaler", ("ours", "fp16"), {}),
        ("ours bf16", ("ours", "bf16"), {}),
        ("ours bf16 + channels_last", ("ours", "bf16"), {"channels_last": True}),
        ("ours bf16 + channels_last, cudnn.benchmark off", ("ours", "bf16"), {"channels_last": True}),
    ]
    fns = {}
    for name, args, kw in specs:
        if not s.cuda and ("fp16" in name or "cudnn" in name):
            why = "fp16 autocast is CUDA-only" if "fp16" in name else "cuDNN is CUDA-only"
            rows.add(skip_row("step", name, why + " (dry run on the CPU)"))
            continue
        say(f"step: warming up {name}")
        try:
            fn = b.step(*args, **kw)
        except Exception as exc:  # noqa: BLE001 - e.g. no GradScaler in this torch
            rows.add(fail_row("step", f"{name} step", exc))
            continue
        if "cudnn.benchmark off" in name:
            fn = _without_cudnn_benchmark(fn)
        if _warm(name, fn, z["warmup"], rows, "step") is not None:
            fns[name] = fn
    if not fns:
        raise RuntimeError("no step variant ran")
    say(f"step: {z['rounds']} interleaved rounds of {len(fns)} variants")
    samples = interleaved_samples(fns, repeats=z["rounds"], warmup=0)
    _report(b, samples, rows, "step", size)
    for name, fn in fns.items():
        try:
            val, how = b.peak_memory(fn, name)
            rows.add(row("step", f"memory: {name}", val, "MiB", how))
        except Exception as exc:  # noqa: BLE001
            rows.add(fail_row("step", f"memory: {name}", exc))
    fastest = {n: statistics.median(ts) for n, ts in samples.items()}
    for name, sec in b.aug_s.items():
        label = "authors' PIL pipeline" if name == "authors" else "ours (vireid.data.transforms)"
        target = (
            AUTHORS if name == "authors" else min((n for n in fastest if n != AUTHORS), key=fastest.get, default=None)
        )
        note = (
            f"loader workers needed to keep up with {target}: {math.ceil(sec / fastest[target])}"
            if target in fastest
            else ""
        )
        rows.add(row("step", f"augmentation, {label}, one batch, 1 CPU thread", 1e3 * sec, "ms", note, aug_s=sec))


def run_compile(s: Settings, rows: Rows) -> None:
    """Section ``compile``: ours bf16 + channels_last eager vs ``torch.compile`` (+ authors' step)."""
    kw = dict(base_channels=16, layers=(1, 1, 1, 1)) if s.quick and not s.dry else None
    b = Bench(s, kw)
    z = b.z
    size = f"{z['h']}x{z['w']}, {z['p']}x{z['k']}x2" + (", DEEN base 16, 1 block per stage" if kw else "")
    if s.cuda:
        torch.backends.cudnn.benchmark = True
    eager = b.step("ours bf16 cl", "bf16", channels_last=True)
    fns = {AUTHORS: b.step(AUTHORS), "ours bf16 + channels_last": eager}
    for name, fn in fns.items():
        if _warm(name, fn, z["warmup"], rows, "compile") is None:
            raise RuntimeError(f"eager variant {name} failed")
    say(f"compile: torch.compile(backend={s.compile_backend!r}) of DEEN, first steps")
    compiled = torch.compile(b.cl_model, backend=s.compile_backend)
    cfn = b.step("ours bf16 cl", "bf16", channels_last=True, compiled=compiled)
    name = "ours bf16 + channels_last + torch.compile"
    first = _warm(name, cfn, 3, rows, "compile")
    if first is None:
        return
    fns[name] = cfn
    samples = interleaved_samples(fns, repeats=z["rounds"], warmup=0)
    steady = statistics.median(samples[name])
    rows.add(
        row(
            "compile",
            f"compile time (backend {s.compile_backend})",
            max(0.0, sum(first) - 3 * steady),
            "s",
            "first 3 compiled steps minus 3 steady steps; " + ", ".join(f"{t:.1f}" for t in first) + " s",
        )
    )
    _report(b, samples, rows, "compile", size, project=lambda n: n == name and kw is None)
    mid, lo, hi = paired_ratio(samples["ours bf16 + channels_last"], samples[name])
    rows.add(
        row(
            "compile",
            "speed-up of torch.compile over eager (bf16 + channels_last)",
            mid,
            "x",
            f"paired, {len(samples[name])} rounds, range {lo:.2f}-{hi:.2f}",
        )
    )
    try:
        val, how = b.peak_memory(cfn, name)
        rows.add(row("compile", f"memory: {name}", val, "MiB", how))
    except Exception as exc:  # noqa: BLE001
        rows.add(fail_row("compile", f"memory: {name}", one_line(exc)))


def run_projection(s: Settings, rows: Rows, prior: list[dict]) -> None:
    """Section ``projection``: hours per SYSU-MM01 epoch and for the 151-epoch recipe, from the
    measured step times (GPU step only: data loading overlapped, no per-epoch evaluation)."""
    steps = steps_per_epoch()
    rows.add(
        row(
            "projection",
            "SYSU-MM01 steps per epoch (authors' sampler)",
            steps,
            "steps",
            f"max({SYSU_VISIBLE}, {SYSU_INFRARED}) // (6*4) + 1",
        )
    )
    times = {
        r["data"]["variant"]: r["data"]["step_s"]
        for r in prior
        if r.get("status") == "ok" and "step_s" in r.get("data", {}) and r["section"] in ("step", "compile")
    }
    if not times:
        rows.add(skip_row("projection", "epoch and recipe time", "no step time was measured"))
        return
    pick = {AUTHORS: times.get(AUTHORS), "ours fp32": times.get("ours fp32")}
    ours = {k: v for k, v in times.items() if k != AUTHORS}
    if ours:
        best = min(ours, key=ours.get)
        pick[f"ours fastest ({best})"] = ours[best]
    note = "GPU step only (loader overlapped, no evaluation)" + ("; dry run: tiny model, meaningless" if s.dry else "")
    for name, t in pick.items():
        if t is None:
            continue
        rows.add(row("projection", f"one SYSU epoch, {name}", steps * t / 60, "min", note))
        rows.add(
            row("projection", f"{RECIPE_EPOCHS}-epoch recipe, {name}", RECIPE_EPOCHS * steps * t / 3600, "h", note)
        )
