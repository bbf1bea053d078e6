"""The default ablation grid (docs/deen_vit.md, open questions), trained and tested on the synthetic benchmark.

``python -m benchmarks.ablation_default [--quick] [--jobs 2] [--seeds 0 1] [--out DIR]``

One factor at a time against the base config ``configs/ablation_vit_tiny.yaml`` (a CPU-sized
DEEN-ViT; ``vireid ablate --mode each``), each over several seeds:

* expansion module: none, DEE, DEE-1D, T-MHEE, CM-ATM, SS-DEC (with its InfoNCE term);
* token MFA: off, on with the stage-0 low-level source, on with the previous stage as source;
* stage-4 encoder depth: 1, 2, 3;
* SVDO (ABD-Net): off, O.F. (features after stage 2), O.W. (weights of the stage-4 blocks), both;
* input size: 64x32 and 96x48.

Writes ``DIR/ablation.md``, ``DIR/ablation.png``, ``DIR/results.json`` (see
:mod:`vireid.engine.ablation`) and the table, with its scale, into RESULTS.md.  The scale is
what a 2-core CPU finishes in about half an hour; the numbers compare design choices at that
scale only, not at the papers' (ViT-B/16, ImageNet weights, real datasets, a GPU).
``--quick`` runs one seed of a two-value grid for a few epochs (a smoke test of the pipeline).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks._common import section, write_section
from vireid.config import load_config
from vireid.engine.ablation import markdown_table, run_ablation

BASE = Path(__file__).resolve().parents[1] / "configs" / "ablation_vit_tiny.yaml"

GRID: dict[str, list[str]] = {
    "model.args.expansion+loss.infonce_weight": ["[none,0]", "[dee,0]", "[dee1d,0]", "[tmhee,0]",
                                                 "[cmatm,0]", "[ssdec,0.1]"],
    "model.args.mfa+model.args.mfa_low": ["[false,stage0]", "[true,stage0]", "[true,previous]"],
    "model.args.stage4_depth": ["1", "2", "3"],
    "model.args.svdo_of_stages+model.args.svdo_ow_blocks+loss.svdo_of_weight+loss.svdo_ow_weight": [
        "[[],[],0,0]", "[[2],[],1.0e-4,0]", "[[],[4],0,1.0e-3]", "[[2],[4],1.0e-4,1.0e-3]"],
    "data.height+data.width+model.args.img_size": ["[64,32,[64,32]]", "[96,48,[96,48]]"],
}
QUICK_GRID = {"model.args.expansion+loss.infonce_weight": ["[none,0]", "[dee,0]"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ablation_default", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one seed, two values, 2 epochs")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--jobs", type=int, default=2, help="runs trained at once (default 2)")
    ap.add_argument("--out", default="runs/ablation_default")
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args(argv)
    overrides = ["train.epochs=2", "eval.every=0"] if args.quick else []
    base = load_config(BASE, overrides)
    grid = QUICK_GRID if args.quick else GRID
    seeds = args.seeds[:1] if args.quick else args.seeds
    t0 = time.perf_counter()
    rows = run_ablation(base, grid, args.out, seeds=seeds, mode="each", jobs=args.jobs)
    minutes = (time.perf_counter() - t0) / 60
    d = base.data
    vit = base.model.args.get("vit", {})
    scale = (f"Scale: DEEN-ViT with a {vit.get('depth')}-block, {vit.get('embed_dim')}-dim ViT "
             f"(patch {vit.get('patch_size')}) from random weights; synthetic SYSU-MM01 layout "
             f"({d.synth.get('num_ids')} identities, {d.synth.get('num_test_ids')} for test, difficulty "
             f"{d.synth.get('difficulty')}); {base.train.epochs} epochs at batch {d.num_ids}x{d.num_pos}x2; "
             f"all-search single-shot protocol, mean of 10 trials; seeds {', '.join(map(str, seeds))}; "
             f"one factor varied at a time, '(base)' marks the base value of the others. "
             f"Wall time {minutes:.0f} min with {args.jobs} parallel runs. GPU-scale numbers "
             "(ViT-B/16, ImageNet weights, the real datasets) need a GPU and the datasets: not measured here.")
    table = markdown_table(rows)
    print(table)
    if not args.no_write:
        flags = " ".join(["--quick"] if args.quick else []) or ""
        command = f"python -m benchmarks.ablation_default --jobs {args.jobs} {flags}".strip()
        body = f"{scale}\n\n{table}\n\nPlot: `{Path(args.out) / 'ablation.png'}` (not committed)."
        write_section("ablation_default", section("Ablation: the default grid", body, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
