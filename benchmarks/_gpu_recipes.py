"""Every paper config's training step on the GPU, at its shipped size and batch, for ``gpu_check``.

* section ``recipes``: DEEN-R50 on SYSU-MM01 (384x144, 6 x 4 x 2), DEEN's RegDB variant, AGW
  (288x144, 8 x 4 x 2) and DEEN with ABD-Net's CAM, attentive branch and SVDO (``abd_sysu``);
* section ``vit``: DEEN-ViT-B/16 (288x144, 6 x 4 x 2) with each expansion module
  (``deen_vit_{dee,dee1d,tmhee,cmatm,ssdec}``).

Each config is built from its shipped YAML (model, objective and optimizer as ``vireid train``
builds them; random initial weights) and stepped by vireid's own training step
(:meth:`vireid.engine.trainer.Trainer.run_step`: a pre-made batch of the config's size copied to
the device, forward, the config's losses, backward, ``optim.grad_clip``, optimizer step; then
``synchronize``), in fp32, bf16 autocast and fp16 autocast + GradScaler, interleaved in rotated
rounds.  Peak memory is
``max_memory_allocated`` during one step above what was resident.  The test-time descriptor
(the config's flip and embedding combination, batch ``data.test_batch_size``) is timed in the
config's own precision; the step time in that precision and the forward time per image feed
the projection of each paper config's full run (:func:`benchmarks._paper_runs.project_hours`).

A section stops starting configs when its time cap is near (a skip row says which were left).
"""

from __future__ import annotations

import statistics
import time

import torch

from benchmarks import _paper_runs as paper
from benchmarks._common import interleaved_samples
from benchmarks._gpu_common import Rows, Settings, fail_row, mib, row, say, skip_row

RECIPES = ("deen_sysu", "deen_regdb", "agw_sysu", "abd_sysu")
VITS = ("deen_vit_dee", "deen_vit_dee1d", "deen_vit_tmhee", "deen_vit_cmatm", "deen_vit_ssdec")
QUICK = {"recipes": ("deen_sysu", "agw_sysu"), "vit": ("deen_vit_tmhee",)}
PRECISIONS = (("fp32", "none"), ("bf16", "bf16"), ("fp16 + GradScaler", "fp16"))
#: paper runs whose step is another run's (same model and batch; other identities or data only)
SAME_STEP = {"deen_sysu_indoor": "deen_sysu", "deen_llcm": "deen_sysu"}


def dry_overrides(cfg) -> list[str]:
    """CPU-sized model and batch for ``--dry`` (never on a GPU)."""
    out = ["data.num_ids=2", "data.num_pos=2", "data.height=32", "data.width=16", "data.test_batch_size=4"]
    if cfg.model.name == "deen_vit":
        vit = "{size: tiny, depth: 4, embed_dim: 48, num_heads: 3, patch_size: 8}"
        return out + [f"model.args.vit={vit}", "model.args.stages=[1,1,1,1]", "model.args.img_size=[32,16]"]
    return out + ["model.args.base_channels=4", "model.args.layers=[1,1,1,1]"]


def config_for(s: Settings, name: str):
    from vireid.config import load_config

    cfg = load_config(name, ["model.pretrained=none"])
    return load_config(name, ["model.pretrained=none", *dry_overrides(cfg)]) if s.dry else cfg


def _config_precision(cfg, device: torch.device) -> str:
    from vireid.core.device import resolve_amp

    return resolve_amp(cfg.train.amp, device).name


def measure(s: Settings, rows: Rows, section: str, name: str) -> None:
    """All rows of one config: step time per precision, peak memory, descriptor time, ratios."""
    from types import SimpleNamespace

    from vireid.config import build
    from vireid.core.device import resolve_amp
    from vireid.engine.trainer import Trainer

    cfg = config_for(s, name)
    dev = s.device
    z = {"rounds": 2 if s.dry else 3 if s.quick else 6, "warmup": 1 if s.dry else 2}
    torch.manual_seed(0)
    p, k = cfg.data.num_ids, cfg.data.num_pos
    h, w = cfg.data.height, cfg.data.width
    classes = paper.NUM_CLASSES[cfg.data.dataset] if not s.dry else 4
    model = build.build_model(cfg.model, classes, pretrained=None).to(dev).train()
    objective = build.build_objective(cfg.loss, model)
    labels = torch.randperm(classes)[:p].repeat_interleave(k)
    pool = [(torch.randn(p * k, 3, h, w), torch.randn(p * k, 3, h, w), labels, labels) for _ in range(2)]
    if s.cuda:
        pool = [(a.pin_memory(), b.pin_memory(), y, y) for a, b, y, _ in pool]
    it = iter(range(1 << 62))
    size = f"{h}x{w}, {p}x{k}x2, {sum(q.numel() for q in model.parameters()) / 1e6:.1f} M params"
    own = _config_precision(cfg, dev)
    say(f"{section}: {name} ({size}; trains in {own})")

    fns, opts = {}, []
    for label, mode in PRECISIONS:
        if mode == "fp16" and not s.cuda:
            rows.add(skip_row(section, f"{name} {label}", "fp16 autocast is CUDA-only (dry run on the CPU)"))
            continue
        opt = build.build_optimizer(cfg.optim, model)
        opts.append(opt)
        # vireid's own step (Trainer.run_step): copy to the device, forward, the config's losses,
        # backward (GradScaler for fp16), optim.grad_clip, optimizer step
        trainer = Trainer(
            model,
            objective,
            opt,
            None,
            SimpleNamespace(steps_per_epoch=1),
            epochs=1,
            device=dev,
            precision=resolve_amp(mode, dev),
            grad_clip=cfg.optim.grad_clip,
        )

        def fn(trainer=trainer) -> None:
            trainer.run_step(pool[next(it) % len(pool)])
            s.sync()

        try:
            for _ in range(z["warmup"]):
                fn()
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory in one precision: report, go on
            rows.add(fail_row(section, f"{name} {label} step", exc))
            if s.cuda:
                torch.cuda.empty_cache()
            continue
        fns[label] = fn
    if not fns:
        raise RuntimeError(f"{name}: no precision ran")
    samples = interleaved_samples(fns, repeats=z["rounds"], warmup=0)
    fp32 = samples.get("fp32")
    for label, ts in samples.items():
        med = statistics.median(ts)
        note = f"step {1e3 * med:.1f} ms, {2 * p * k / med:.0f} img/s"
        if fp32 is not None and label != "fp32":
            note += f"; {statistics.median(a / b for a, b in zip(fp32, ts, strict=True)):.2f}x fp32 (paired)"
        is_own = label.split(" ")[0] == own
        rows.add(
            row(
                section,
                f"{name} step, {label} ({size})",
                med,
                "s",
                note + ("; the config's precision" if is_own else ""),
                run=name,
                kind="step",
                seconds=med,
                precision=label,
                config_precision=is_own,
            )
        )
    for label, fn in fns.items():
        rows.add(row(section, f"{name} memory, {label}", _peak(s, fn, opts, model), "MiB", _mem_note(s)))
    _descriptor(s, rows, section, name, cfg, model, own)
    if s.cuda:
        torch.cuda.empty_cache()


def _peak(s: Settings, fn, opts, model) -> float:
    for opt in opts:
        opt.zero_grad(set_to_none=True)
    if not s.cuda:
        from benchmarks._common import saved_activation_bytes

        return mib(saved_activation_bytes(fn, list(model.parameters())))
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    return mib(torch.cuda.max_memory_allocated() - base)


def _mem_note(s: Settings) -> str:
    return "peak max_memory_allocated above resident" if s.cuda else "CPU dry run: saved-for-backward activations"


def _descriptor(s: Settings, rows: Rows, section: str, name: str, cfg, model, own: str) -> None:
    """Test-time descriptor of one batch (``eval.flip`` / ``eval.combine``) in the config's precision."""
    from vireid.core.device import resolve_amp

    precision = resolve_amp(cfg.train.amp, s.device)
    n = cfg.data.test_batch_size
    x = torch.randn(n, 3, cfg.data.height, cfg.data.width, device=s.device)
    flip, combine = cfg.eval.flip, cfg.eval.combine

    def embed() -> None:
        with precision.autocast():
            model.embed(x, "infrared", flip=flip, combine=combine, normalize=False)
        s.sync()

    embed()
    times = []
    for _ in range(2 if s.dry else 5):
        t0 = time.perf_counter()
        embed()
        times.append(time.perf_counter() - t0)
    per_image = statistics.median(times) / n
    forward = per_image / (2 if flip else 1)
    rows.add(
        row(
            section,
            f"{name} descriptor, {own} (batch {n}, flip {'on' if flip else 'off'})",
            1 / per_image,
            "img/s",
            f"{1e3 * forward:.2f} ms per forward per image",
            run=name,
            kind="forward",
            seconds=forward,
            precision=own,
            config_precision=True,
        )
    )
    model.train()


def _time_left(section: str, caps: dict[str, tuple[float, float]], s: Settings, started: float) -> float:
    cap = caps[section][1 if s.quick else 0]
    return cap - (time.perf_counter() - started)


def _run(s: Settings, rows: Rows, section: str, names: tuple[str, ...]) -> None:
    from benchmarks.gpu_check import CAPS

    started = time.perf_counter()
    names = QUICK[section] if s.quick and not s.dry else names
    last = 0.0
    for i, name in enumerate(names):
        left = _time_left(section, CAPS, s, started)
        if not s.dry and left < 1.5 * last:
            rows.add(skip_row(section, ", ".join(names[i:]), f"not started: {left:.0f} s of the section's cap left"))
            return
        t0 = time.perf_counter()
        try:
            measure(s, rows, section, name)
        except Exception as exc:  # noqa: BLE001 - next config
            rows.add(fail_row(section, name, exc))
            if s.cuda:
                torch.cuda.empty_cache()
        last = time.perf_counter() - t0


def run_recipes(s: Settings, rows: Rows) -> None:
    """Section ``recipes``: the CNN paper configs."""
    _run(s, rows, "recipes", RECIPES)


def run_vit(s: Settings, rows: Rows) -> None:
    """Section ``vit``: DEEN-ViT-B/16 with each expansion module."""
    _run(s, rows, "vit", VITS)


def run_projection(s: Settings, rows: Rows, prior: list[dict]) -> None:
    """Hours of each paper config's full run from the measured step (config precision) and descriptor."""
    times: dict[str, dict[str, float]] = {}
    for r in prior:
        d = r.get("data") or {}
        if r.get("status") == "ok" and d.get("config_precision") and d.get("run"):
            times.setdefault(d["run"], {})[d["kind"]] = d["seconds"]
    note = "step x steps + forward x eval forwards; loader assumed to keep up" + (
        "; dry run: tiny models, meaningless" if s.dry else ""
    )
    for run in paper.RUNS:
        src = SAME_STEP.get(run.key, run.key)
        t = times.get(src, {})
        if "step" not in t or "forward" not in t:
            rows.add(skip_row("projection", f"full run, {run.key}", f"no step/descriptor time measured for {src}"))
            continue
        cfg = run.load(["model.pretrained=none"])
        plan = paper.run_plan(cfg)
        h = paper.project_hours(cfg, t["step"], t["forward"])
        rows.add(
            row(
                "projection",
                f"full run, {run.key} ({plan['epochs']} epochs x {plan['steps_per_epoch']} steps, "
                f"{plan['evaluations']} evaluations)",
                h["total_h"],
                "h",
                f"training {h['train_h']:.1f} h + evaluation {h['eval_h']:.2f} h; "
                + (f"step time of {src}; " if src != run.key else "")
                + note,
                run=run.key,
                kind="projection",
                seconds=h["total_h"] * 3600,
            )
        )
