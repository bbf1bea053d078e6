"""The default ablation grid (docs/deen_vit.md, open questions), trained and tested on the synthetic benchmark.

``python -m benchmarks.ablation_default [--quick] [--jobs 2] [--seeds 0 1 2] [--out DIR]``

One factor at a time against the base config ``configs/ablation_vit_tiny.yaml`` (a CPU-sized
DEEN-ViT fine-tuned from the synthetic pretraining stand-in of :mod:`benchmarks.vit_pretrain`,
which this command trains first if its file is missing), each row over the same seeds:

* expansion module: none, DEE (2-D), DEE-1D, T-MHEE, CM-ATM, SS-DEC (with its InfoNCE term);
* token MFA: off, on with the stage-0 low-level source, on with the previous stage as source;
* stage-4 encoder depth: 1, 2, 3;
* input size, at the 2:1 (height:width) aspect of person crops (SYSU-MM01 practice, 288 x 144)
  rather than the square sizes of ViT pretraining; images are resized (not padded) and the
  square pretrained position grid is resampled to each size's patch grid;
* SVDO (ABD-Net): off, O.F. (features after stage 2), O.W. (weights of the stage-4 block), both.

Writes ``DIR/ablation.md``, ``DIR/ablation.png``, ``DIR/results.json`` (see
:mod:`vireid.engine.ablation`), ``DIR/stats.md`` (per row: the difference to the base row paired
by seed with its 95 % Student-t interval, :mod:`vireid.engine.ablation_stats`) and both tables,
with their scale, into RESULTS.md.  The numbers compare design choices at this scale only, not
at the papers' (ViT-B/16, ImageNet weights, real datasets, a GPU).  ``--quick`` runs one seed of
a two-value grid for one epoch (a smoke test of the pipeline).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks._common import section, write_section
from benchmarks.vit_pretrain import PretrainSettings, ensure_pretrained, read_settings
from vireid.config import Config, load_config
from vireid.engine.ablation import markdown_table, run_ablation
from vireid.engine.ablation_stats import compare_to_base, stats_table, verdict
from vireid.errors import ConfigError, VireidError

BASE = Path(__file__).resolve().parents[1] / "configs" / "ablation_vit_tiny.yaml"
SIZE = "data.height+data.width+model.args.img_size"
SVDO = "model.args.svdo_of_stages+model.args.svdo_ow_blocks+loss.svdo_of_weight+loss.svdo_ow_weight"

GRID: dict[str, list[str]] = {
    "model.args.expansion+loss.infonce_weight": ["[none,0]", "[dee,0]", "[dee1d,0]", "[tmhee,0]",
                                                 "[cmatm,0]", "[ssdec,0.1]"],
    "model.args.mfa+model.args.mfa_low": ["[false,stage0]", "[true,stage0]", "[true,previous]"],
    "model.args.stage4_depth": ["1", "2", "3"],
    SIZE: ["[48,24,[48,24]]", "[64,32,[64,32]]", "[96,48,[96,48]]"],
    SVDO: ["[[],[],0,0]", "[[2],[],1.0e-4,0]", "[[],[4],0,1.0e-3]", "[[2],[4],1.0e-4,1.0e-3]"],
}
# The value of every axis that equals the base config (tests check it resolves to the base).
BASE_VALUES: dict[str, str] = {
    "model.args.expansion+loss.infonce_weight": "[dee,0]",
    "model.args.mfa+model.args.mfa_low": "[true,stage0]",
    "model.args.stage4_depth": "1",
    SIZE: "[64,32,[64,32]]",
    SVDO: "[[],[],0,0]",
}
QUICK_GRID = {"model.args.expansion+loss.infonce_weight": ["[none,0]", "[dee,0]"]}
# The design notes' questions, as (row value, compared with) pairs for the plain-words verdicts.
QUESTIONS = {
    "model.args.expansion+loss.infonce_weight": "Which replacement for DEE works best (vs DEE 2-D)?",
    "model.args.mfa+model.args.mfa_low": "MFA low-level source: stage 0 or the previous stage (vs stage 0)?",
    "model.args.stage4_depth": "Is one stage-4 block enough (vs depth 1)?",
    SIZE: "How much does the input size matter (vs 64 x 32)?",
    SVDO: "Does ABD-Net's SVDO help on the ViT (vs off)?",
}


def pretrained_settings(base: Config) -> PretrainSettings:
    """The pretraining settings whose output the base config loads (checked against its path)."""
    settings = PretrainSettings()
    want = Path(base.model.pretrained or "")
    if want != settings.default_path():
        raise ConfigError(f"{BASE}: model.pretrained is {str(want)!r}, expected the pretraining stand-in "
                          f"{str(settings.default_path())!r} (benchmarks/vit_pretrain.py)")
    return settings


def scale_text(base: Config, seeds: list[int], jobs: int, minutes: float, pretrain_info: dict) -> str:
    d, vit = base.data, base.model.args.get("vit", {})
    s = PretrainSettings()
    return (f"Scale: DEEN-ViT on a {vit.get('depth')}-block, {vit.get('embed_dim')}-dim ViT (patch "
            f"{vit.get('patch_size')}, {base.data.height}x{base.data.width} input) fine-tuned from a synthetic "
            f"pretraining stand-in for ImageNet (`python -m benchmarks.vit_pretrain`: identity classification "
            f"on {s.num_ids} other synthetic identities at {s.height}x{s.width}, {s.epochs} epochs, "
            f"{pretrain_info.get('seconds', float('nan')) / 60:.0f} min once); synthetic SYSU-MM01 layout "
            f"({d.synth.get('num_ids')} identities, {d.synth.get('num_test_ids')} for test, "
            f"{d.synth.get('images_per_id_per_cam')} images per camera, difficulty {d.synth.get('difficulty')}); "
            f"{base.train.epochs} epochs at batch {d.num_ids}x{d.num_pos}x2, one thread per run; all-search "
            f"single-shot, mean of 10 trials; seeds {', '.join(map(str, seeds))}; one factor varied at a time, "
            f"'(base)' marks the base value of the others.  Wall time {minutes:.0f} min with {jobs} parallel runs.  "
            "GPU-scale numbers (ViT-B/16, ImageNet weights, the real datasets) need a GPU and the datasets: "
            "not measured here.")


def statistics_text(results: list[dict]) -> str:
    """The paired-difference table and one plain-words verdict per row, grouped by question."""
    rows = compare_to_base(results, BASE_VALUES)
    lines = [stats_table(rows), ""]
    for axis, question in QUESTIONS.items():
        lines.append(f"- {question}")
        for r in rows:
            if axis in r.combo and not r.is_base:
                lines.append(f"  - {verdict(r, scale='this scale')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ablation_default", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one seed, two values, 1 epoch")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="runs trained at once (default 2)")
    ap.add_argument("--out", default="runs/ablation_default")
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args(argv)
    try:
        return _run(args)
    except VireidError as exc:
        print(f"error: {exc}")
        return 2


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    base = load_config(BASE, ["train.epochs=1", "eval.every=0"] if args.quick else [])
    settings = pretrained_settings(base)
    path = ensure_pretrained(settings, base.model.pretrained, threads=args.jobs)
    pretrain_info = json.loads((read_settings(path) and _info(path)) or "{}")
    grid = QUICK_GRID if args.quick else GRID
    seeds = args.seeds[:1] if args.quick else args.seeds
    t1 = time.perf_counter()
    run_ablation(base, grid, args.out, seeds=seeds, mode="each", jobs=args.jobs)
    minutes = (time.perf_counter() - t1) / 60
    results = json.loads((Path(args.out) / "results.json").read_text())
    from vireid.engine.ablation import RunResult, summarize

    table = markdown_table(summarize([RunResult(**r) for r in results]))
    stats = statistics_text(results) if len(seeds) > 1 and not args.quick else ""
    (Path(args.out) / "stats.md").write_text(stats + "\n")
    print(table, stats, sep="\n\n")
    print(f"grid: {minutes:.1f} min; total with pretraining check: {(time.perf_counter() - t0) / 60:.1f} min")
    if not args.no_write:
        command = f"python -m benchmarks.ablation_default --jobs {args.jobs}" + (" --quick" if args.quick else "")
        body = (f"{scale_text(base, seeds, args.jobs, minutes, pretrain_info)}\n\n{table}\n\n"
                f"Paired by seed against the base row (95 % Student-t interval of the difference, n - 1 "
                f"degrees of freedom):\n\n{stats}\n\nPlot: `{Path(args.out) / 'ablation.png'}` (not committed).")
        write_section("ablation_default", section("Ablation: the default grid", body, command))
    return 0


def _info(path: Path) -> str:
    from vireid.utils.io import load_safetensors

    return load_safetensors(path)[1].get("info", "{}")


if __name__ == "__main__":
    raise SystemExit(main())
