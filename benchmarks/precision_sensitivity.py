"""How far one step's gradient moves under perturbations that involve no reduced precision.

``python -m benchmarks.precision_sensitivity [--point demo|r50] [--run RUN]``

The precision audit (:mod:`benchmarks.precision_audit`) measures a bf16 step's gradient against
float64.  At a trained point DEEN's losses are hinges (triplet, CPM) over hardest pairs, so the
gradient is a discontinuous function of the weights: a pair that crosses its margin, or a new
hardest negative, changes it by a finite amount.  This benchmark separates that from rounding:
at the trained point of a full fp32 demo run, on the audit's batch, it reports the relative L2
difference to float64 of the gradient of

* the fp32 step and the bf16 autocast step (vireid's pins);
* fp32 and float64 steps after multiplying every weight tensor by ``1 + r * N(0, 1)`` for a few
  ``r`` around bf16's rounding (2^-9 = 2e-3 relative): perturbations without any low precision.

When float64 with perturbed weights is as far from float64 as bf16 is, the per-module distance
of a single step is a property of the loss surface at that point, not of the precision.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

from benchmarks import precision_audit as audit
from benchmarks._common import publish
from benchmarks._precision import GROUPS, Step, group_errors, step_gradients

SCALES = (1e-4, 1e-3, 4e-3)
WHAT = {
    "demo": "demo DEEN, 64x32, batch 12 x 2 x 2",
    "r50": "DEEN with ResNet-50 layers, base 16, 96x48, batch 6 x 4 x 2, 400 fp32 steps",
}


def perturbed(model: torch.nn.Module, rel: float, seed: int = 1) -> torch.nn.Module:
    m = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:  # conv and linear weights (as bf16 autocast rounds them)
                p.mul_(1 + rel * torch.randn(p.shape, generator=g))
    return m


def rows(run: Path, point: str = "demo") -> dict[str, dict[str, float]]:
    _, model, batch, objective = audit.setup(point)
    audit.load_trained(model, run)
    ref = step_gradients(model, batch, objective, Step(dtype=torch.float64))
    out = {
        "fp32": group_errors(step_gradients(model, batch, objective, Step()), ref),
        "bf16 autocast, vireid": group_errors(
            step_gradients(model, batch, objective, Step(autocast=torch.bfloat16)), ref
        ),
    }
    for rel in SCALES:
        for name, dtype in (("fp32", torch.float32), ("float64", torch.float64)):
            grads = step_gradients(perturbed(model, rel), batch, objective, Step(dtype=dtype))
            out[f"{name}, weights x (1 + {rel:g} N(0,1))"] = group_errors(grads, ref)
    return out


def table(result: dict[str, dict[str, float]]) -> str:
    names = [g for g, _ in GROUPS] + ["all"]
    lines = ["| step | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for row, errs in result.items():
        lines.append(f"| {row} | " + " | ".join(f"{100 * errs[n]:.1f}" for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.precision_sensitivity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--point",
        default="demo",
        choices=["demo", "r50"],
        help="the audit's model and batch (r50: ResNet-50 layers, base 16, 96x48)",
    )
    ap.add_argument(
        "--run",
        type=Path,
        default=None,
        help="trained run (default: the full fp32 demo run; for r50 the audit's 400-step run)",
    )
    ap.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.run is None:
        args.run = audit.DEMO_RUN if args.point == "demo" else audit.CACHE / "r50_trained"
    if not (args.run / "metrics.json").is_file():
        print(
            f"{args.run}: no finished run here (python -m benchmarks.precision_accuracy --run trains it)",
            file=sys.stderr,
        )
        return 2
    body = (
        "Relative L2 difference of one step's gradient to the float64 gradient at the same weights, %, "
        f"at the last checkpoint of `{args.run}` ({WHAT[args.point]}):\n\n" + table(rows(args.run, args.point))
    )
    publish(
        f"precision_sensitivity_{args.point}",
        f"Precision audit: the gradient's sensitivity at a trained point ({args.point})",
        body,
        argv,
        not args.no_write,
        module="precision_sensitivity",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
