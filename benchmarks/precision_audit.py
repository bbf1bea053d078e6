"""Precision audit of one DEEN training step: what bf16 / fp16 autocast changes, and where.

From identical weights and batch, one training step (forward, the demo's DEEN criterion,
backward) runs in float64 (the reference), float32, bf16 autocast and fp16 autocast (CPU
autocast; fp16 with a static loss scale, halved until the gradients are finite, as a
GradScaler does); each row gives the relative L2 difference of the gradient to float64 per
module group (``all``: every parameter; ``cos``: cosine to float64).  ``plain`` rows switch
vireid's float32 pins off (``vireid.utils.precision.fp32_pins``), ``vireid`` rows keep them.

Where the difference comes from (pins off):

* simulated rows, float32 arithmetic with bf16 rounding only in the forward values (inputs
  of conv / matmul / linear and every op's output, straight-through), only in the backward
  (every op's output gradient), or only of the weights;
* blame: one class of ops runs in float32 while the rest is bf16 autocast ("fp32 here"),
  and the converse, only that class in bf16 ("bf16 only here"; element-wise ops, BN and
  pooling are not autocast ops: they run in bf16 only when their inputs are);
* for scale, at trained points: the float32 gradient one optimizer step later (the run's
  AdamW moments, lr 1e-4, a fortieth of the demo's peak).

Points (``--points``): ``r50`` the reduced-width DEEN-R50 (base 16, layers 3-4-6-3) at 96x48
with the authors' batch (6 identities x 4 images per modality); ``demo`` the demo DEEN
(configs/synthetic.yaml: base 16, layers 1-1-1-1, 64x32, 12 x 2); ``r50full`` DEEN-R50 at
288x144 (batch 3 x 2, initialisation, no blame).  Each at initialisation and trained: after
``vireid train`` in fp32 with the demo recipe for 2 x 200 steps (AdamW, one warm-up epoch,
cosine; cached in ``runs/precision_audit/``), and for ``demo`` also at the end of a full fp32
demo run when ``runs/precision/fp32_s0`` holds one.  Data: the synthetic demo benchmark
(generated once in data/synth-sysu-demo).  DEE's dropout is off in the audited step (its
mask would differ between dtypes).  About 30 minutes on one thread of the 2-core machine.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from benchmarks._common import publish
from benchmarks._precision import GROUPS, Plan, Step, group_errors, step_gradients
from vireid.utils.precision import fp32_pins

CACHE = Path("runs/precision_audit")
CONFIG = "configs/synthetic.yaml"
POINTS = {  # name: (overrides of configs/synthetic.yaml, trained point?)
    "r50": ["model.args.layers=[3,4,6,3]", "data.height=96", "data.width=48", "data.num_ids=6", "data.num_pos=4"],
    "demo": [],
    "r50full": [
        "model.args.layers=[3,4,6,3]",
        "model.args.base_channels=64",
        "data.height=288",
        "data.width=144",
        "data.num_ids=3",
        "data.num_pos=2",
    ],
}
TRAIN = ["train.amp=none", "train.epochs=2", "train.steps_per_epoch=200", "eval.every=2", "train.seed=0"]
MFA = ("mfa1", "mfa2", "mfa3")
BLAME: dict[str, list[tuple[str, frozenset[str] | None]]] = {
    "all convolutions": [("*", frozenset({"conv"}))],
    "stems (the ops on the images)": [("stem_visible", None), ("stem_infrared", None)],
    **{f"layer{i} convs": [(f"backbone.layer{i}", frozenset({"conv"}))] for i in range(1, 5)},
    "MFA 1x1 convs (g, theta, phi, out)": [(m, frozenset({"conv"})) for m in MFA],
    "MFA affinity products": [(m, frozenset({"matmul"})) for m in MFA],
    "MFA output BN + residual": [(m, frozenset({"bn", "other"})) for m in MFA],
    "MFA blocks (every op)": [(m, None) for m in MFA],
    "DEE convs": [("dee", frozenset({"conv"}))],
    "all BatchNorms": [("*", frozenset({"bn"}))],
    "pooling (GAP)": [("", frozenset({"pool"}))],
    "L_ort Gram (DEEN forward)": [("", frozenset({"matmul"}))],
    "classifier": [("classifier", None)],
}


AGGREGATES = ("all convolutions", "MFA blocks (every op)", "all BatchNorms")


def setup(point: str, seed: int = 0):
    """(config, model at initialisation, one training batch, criterion) of an audit point."""
    from vireid.config import build, load_config
    from vireid.data.loaders import TrainBatches, build_train_loader
    from vireid.data.transforms import TrainTransform

    cfg = load_config(CONFIG, POINTS[point] + [f"train.seed={seed}"])
    dataset = build.build_dataset(cfg.data)
    transform = TrainTransform(**build.train_transform_kwargs(cfg.data))
    loader = build_train_loader(dataset.train, transform=transform, **build.train_loader_kwargs(cfg))
    batch = next(iter(TrainBatches(loader, seed).batches(0)))
    torch.manual_seed(seed)
    model = build.build_model(cfg.model, loader.dataset.num_classes)
    return cfg, model, batch, build.build_objective(cfg.loss, model)


def trained_run(point: str) -> Path:
    """Run folder of the short fp32 training of ``point`` (trained once, then cached)."""
    from vireid.config import load_config
    from vireid.engine.run import train

    run = CACHE / f"{point}_trained"
    if not (run / "metrics.json").is_file():
        cfg = load_config(CONFIG, POINTS[point] + TRAIN + [f"train.threads={torch.get_num_threads()}"])
        train(cfg, run, quiet=True, resume=(run / "checkpoints" / "last.json").is_file())
    return run


def load_trained(model, run: Path):
    """Load the last checkpoint of ``run`` into ``model``; returns its optimizer state."""
    from vireid.engine.checkpoint import CheckpointManager, load_weights_into

    tensors, _, state = CheckpointManager(run / "checkpoints").load_last()
    load_weights_into(model, tensors, source=str(run))
    return state["optimizer"]


def variants(fp16: bool) -> dict[str, tuple[Step, bool]]:
    """Row name -> (step, pins on)."""
    rows = {
        "fp32": (Step(), True),
        "bf16 autocast, plain": (Step(autocast=torch.bfloat16), False),
        "bf16 autocast, vireid": (Step(autocast=torch.bfloat16), True),
    }
    if fp16:
        rows["fp16 autocast, plain"] = (Step(autocast=torch.float16, loss_scale=2.0**16), False)
        rows["fp16 autocast, vireid"] = (Step(autocast=torch.float16, loss_scale=2.0**16), True)
    return rows


SIMULATED = {
    "bf16 rounding in the forward only (fp32 backward)": "forward",
    "bf16 rounding in the backward only (fp32 forward)": "backward",
    "bf16 rounding of the conv / matmul weights only": "forward:weights",
}
ONE_STEP_LR = 1e-4


def one_step_later(model, batch, criterion, cfg, optimizer_state):
    """``model`` after one fp32 step of the run's optimizer (its saved moments) at ``ONE_STEP_LR``."""
    from vireid.config import build

    m = copy.deepcopy(model).train()
    opt = build.build_optimizer(cfg.optim, m)
    opt.load_state_dict(optimizer_state)
    for group in opt.param_groups:
        group["lr"] = ONE_STEP_LR
    out = m(batch[0], batch[1], 0)
    sum(criterion(out, batch[2], batch[3]).values()).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return m


@torch.no_grad()
def relative_change(a, b) -> float:
    num = sum(float((p - q).pow(2).sum()) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    return (num / sum(float(p.pow(2).sum()) for p in a.parameters())) ** 0.5


def audit(
    model, batch, criterion, *, blame: bool, fp16: bool, cfg=None, optimizer_state=None, log=print
) -> dict[str, dict[str, float]]:
    """``{row: {group: relative error}}`` of one point."""
    model = model.train()
    model.dee.dropout.p = 0.0
    t0 = time.perf_counter()
    ref = step_gradients(model, batch, criterion, Step(dtype=torch.float64))
    out: dict[str, dict[str, float]] = {}

    def row(name: str, step: Step, pins: bool, net=None) -> None:
        with fp32_pins(pins):
            out[name] = group_errors(step_gradients(net or model, batch, criterion, step), ref)
        log(f"  {name}: all {100 * out[name]['all']:.1f} % ({time.perf_counter() - t0:.0f} s)")

    for name, (step, pins) in variants(fp16).items():
        row(name, step, pins)
    if blame:
        for name, how in SIMULATED.items():
            row(name, Step(simulate=how), False)
        rounded = copy.deepcopy(model)
        with torch.no_grad():
            for p in rounded.parameters():
                p.copy_(p.bfloat16().float())
        out["_rounding"] = {"dw": relative_change(model, rounded)}
        if optimizer_state is not None:
            later = one_step_later(model, batch, criterion, cfg, optimizer_state)
            later.dee.dropout.p = 0.0
            name = f"fp32, one optimizer step later (lr {ONE_STEP_LR:g})"
            row(name, Step(), True, net=later)
            out["_rounding"]["step_dw"] = relative_change(model, later)
        for name, exc in BLAME.items():
            row(f"fp32 here: {name}", Step(plan=Plan(exceptions=exc)), False)
            row(f"bf16 only here: {name}", Step(plan=Plan(default="fp32", exceptions=exc)), False)
    return out


def error_table(rows: dict[str, dict[str, float]], names: list[str]) -> str:
    groups = [g for g, _ in GROUPS if g in next(iter(rows.values()))] + ["all"]
    head = "| step | " + " | ".join(groups) + " | cos |"
    lines = [head, "|---|" + "---:|" * (len(groups) + 1)]
    for n in names:
        r = rows[n]
        lines.append(f"| {n} | " + " | ".join(f"{100 * r[g]:.1f}" for g in groups) + f" | {r['cos']:.3f} |")
    return "\n".join(lines)


def blame_table(rows: dict[str, dict[str, float]]) -> str:
    base = rows["bf16 autocast, plain"]["all"]
    lines = [
        "| op class | fp32 here, rest bf16: all | worst module | bf16 only here: all | worst module |",
        "|---|---:|---|---:|---|",
    ]
    order = sorted(BLAME, key=lambda n: -rows[f"bf16 only here: {n}"]["all"])
    for n in order:
        cells = []
        for kind in ("fp32 here", "bf16 only here"):
            r = rows[f"{kind}: {n}"]
            worst = max((g for g, _ in GROUPS if g in r), key=lambda g: r[g])
            cells += [f"{100 * r['all']:.1f}", f"{worst} {100 * r[worst]:.1f}"]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines.append(f"| (none: plain bf16 autocast) | {100 * base:.1f} | | | |")
    return "\n".join(lines)


DEMO_RUN = Path("runs/precision/fp32_s0")  # a full fp32 demo run (benchmarks/precision_accuracy.py)


def stages(point: str) -> list[tuple[str, Path | None]]:
    out: list[tuple[str, Path | None]] = [("initialisation", None)]
    if point != "r50full":
        out.append(("trained: 400 fp32 steps", trained_run(point)))
    if point == "demo" and (DEMO_RUN / "metrics.json").is_file():
        out.append(("trained: the full fp32 demo run (18 epochs, seed 0)", DEMO_RUN))
    return out


def findings(rows: dict[str, dict[str, float]]) -> str:
    single = [n for n in BLAME if n not in AGGREGATES]
    top = sorted(single, key=lambda n: -rows[f"bf16 only here: {n}"]["all"])[:4]
    text = (
        "Largest single contributors (bf16 only there): "
        + ", ".join(f"{n} {100 * rows[f'bf16 only here: {n}']['all']:.1f} %" for n in top)
        + "."
    )
    r = rows["_rounding"]
    text += f" Rounding the weights to bf16 moves them by {r['dw']:.1e} (relative L2)"
    if "step_dw" in r:
        text += f"; one optimizer step at lr {ONE_STEP_LR:g} moves them by {r['step_dw']:.1e}"
    return text + "."


def summary(entries: list[tuple[str, dict[str, dict[str, float]]]]) -> str:
    """One line per point: all-parameter error and worst module, before (plain) and after (vireid)."""
    lines = [
        "| point | bf16 plain: all / worst module | bf16 vireid: all / worst module | fp16 vireid: all | fp32: all |",
        "|---|---|---|---:|---:|",
    ]
    for name, rows in entries:
        cells = []
        for row in ("bf16 autocast, plain", "bf16 autocast, vireid"):
            r = rows[row]
            worst = max((g for g, _ in GROUPS if g in r), key=lambda g: r[g])
            cells.append(f"{100 * r['all']:.1f} / {worst} {100 * r[worst]:.1f}")
        f16 = rows.get("fp16 autocast, vireid", {}).get("all")
        cells.append("-" if f16 is None else f"{100 * f16:.1f}")
        cells.append(f"{100 * rows['fp32']['all']:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(points: list[str], fp16: bool, log=print) -> str:
    parts = []
    entries = []
    for point in points:
        cfg, model, batch, criterion = setup(point)
        d = cfg.data
        size = (
            f"{type(model).__name__} base {cfg.model.args.get('base_channels', 64)}, layers "
            f"{'-'.join(map(str, cfg.model.args.get('layers', (3, 4, 6, 3))))}, {d.height}x{d.width}, "
            f"batch {d.num_ids} x {d.num_pos} x 2"
        )
        for stage, run_dir in stages(point):
            opt_state = load_trained(model, run_dir) if run_dir is not None else None
            log(f"{point} / {stage}")
            full = point != "r50full"
            rows = audit(
                model, batch, criterion, blame=full, fp16=fp16 and full, cfg=cfg, optimizer_state=opt_state, log=log
            )
            entries.append((f"{size}, {stage}", rows))
            text = f"### {size}, {stage}\n\nRelative L2 difference of the gradient to float64, %:\n\n"
            names = list(variants(fp16 and full)) + [n for n in rows if n in SIMULATED or n.startswith("fp32, one")]
            text += error_table(rows, names)
            if full:
                text += "\n\nBlame (pins off; sorted by the error of bf16 only here), %:\n\n" + blame_table(rows)
                text += "\n\n" + findings(rows)
            parts.append(text)
    head = (
        "Relative L2 difference of one step's gradient to float64, %, before (plain autocast) and after "
        "(vireid: the ResNet stems in float32) -- the target is every module within 10 % at a trained "
        "point:\n\n" + summary(entries)
    )
    return "\n\n".join([head, *parts])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.precision_audit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--points", nargs="*", default=["r50", "demo"], choices=list(POINTS))
    ap.add_argument("--no-fp16", action="store_true", help="skip fp16 (emulated on CPU: ~1 min a step)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    body = run(args.points, fp16=not args.no_fp16)
    publish("precision_audit", "Precision audit: one DEEN training step against float64", body, argv, not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
