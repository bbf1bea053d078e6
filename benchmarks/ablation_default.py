"""The default ablation grid (docs/deen_vit.md, open questions), trained and tested on the synthetic benchmark.

``python -m benchmarks.ablation_default [--quick] [--jobs 2] [--seeds 0 1 2] [--out DIR] [--set KEY=VALUE ...]
[--resume]``

One factor at a time (``vireid ablate --mode each``) against the base config
``configs/ablation_vit_tiny.yaml``: a CPU-sized DEEN-ViT fine-tuned from the synthetic pretraining
stand-in of :mod:`benchmarks.vit_pretrain` (which this command trains first if its file is
missing) with the recipe of docs/vit_recipe_log.md (run f06).  Each row runs the same seeds:

* expansion module: none, DEE (2-D), DEE-1D, T-MHEE, CM-ATM, SS-DEC (with its InfoNCE term);
* token MFA: off, on with the stage-0 low-level source, on with the previous stage as source;
* stage-4 encoder depth: 1, 2, 3;
* input size, at the 2:1 (height:width) aspect of person crops (SYSU-MM01 practice, 288 x 144)
  rather than the square sizes of ViT pretraining; images are resized (not padded) and the
  square pretrained position grid is resampled to each size's patch grid;
* SVDO (ABD-Net): off, O.F. (features after stage 2), O.W. (weights of the stage-4 block), both.

19 cells, of which the base value of each axis is the same config (the reference cell, trained
once): 15 distinct configs x 3 seeds = 45 runs.  Then the CNN reference row: DEEN-R50 with the
demo's recipe (``configs/synthetic.yaml``, from random weights) on the same data, batch, epochs
and scoring (:func:`reference_config`), with the same seeds (3 more runs, in ``DIR/deen_r50``).
Measured cost with ``--jobs 2`` on 2 idle cores: 79 min for the grid and 5 min for the reference
row (benchmarks/RESULTS.md), plus about 8 min for the stand-in when its file is missing.
``--resume`` continues an interrupted grid in ``DIR`` (the wall time it reports is then that of
the resumed part only).

Writes ``DIR/ablation.md``, ``DIR/ablation.png`` (the forest plot), ``DIR/results.json`` and
``DIR/summary.json`` (see :mod:`vireid.engine.ablation`: per cell the mean ± std over seeds and
the difference to the reference cell paired by seed, with its 95 % Student-t interval and a
verdict), the table with its scale and one verdict per design question into RESULTS.md, and the
summary into ``benchmarks/results/ablation_default.json``: the one file README's ablation table
and ``docs/images/ablation_default.png`` are drawn from (``--render`` redraws both from it
without training).  The grid declares the report's names: each value's label (the design notes'
names: T-MHEE, CM-ATM, O.F., ...) and each axis's question.  The numbers compare design choices at this scale only,
not at the papers' (ViT-B/16, ImageNet weights, real datasets, a GPU): :func:`gpu_command`
prints that grid as a ``vireid ablate`` command (``--gpu-command``; documented, not run).
``--quick`` runs one seed of a two-value grid for one epoch (a smoke test of the pipeline);
``--set`` adds overrides to the base config (e.g. ``train.steps_per_epoch=5``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path
from typing import Any

from benchmarks._common import section, write_section
from benchmarks.vit_pretrain import PretrainSettings, ensure_pretrained
from vireid.config import Config, load_config
from vireid.engine.ablation import label_rows, report_markdown, run_ablation, split_grid, write_summary
from vireid.errors import ConfigError, VireidError

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "ablation_vit_tiny.yaml"
# The CNN reference row: DEEN-R50 with the demo's recipe (from random weights), on the grid's data and budget.
R50 = ROOT / "configs" / "synthetic.yaml"
# the settings the reference row takes from the grid's base config: data, batch, budget, precision, scoring
R50_SHARED = (
    "data.root",
    "data.synth",
    "data.height",
    "data.width",
    "data.num_ids",
    "data.num_pos",
    "data.workers",
    "data.cache",
    "train.epochs",
    "train.steps_per_epoch",
    "train.amp",
    "train.threads",
    "train.progress",
    "train.tensorboard",
    "eval.every",
    "eval.select",
    "eval.trials",
)
PLOT = ROOT / "docs" / "images" / "ablation_default.png"
EXPANSION = "model.args.expansion+loss.infonce.weight"
MFA = "model.args.mfa+model.args.mfa_low"
DEPTH = "model.args.stage4_depth"
SIZE = "data.height+data.width+model.args.img_size"
SVDO = "model.args.svdo_of_stages+model.args.svdo_ow_blocks+loss.svdo_of.weight+loss.svdo_ow.weight"

# Each value carries its label (VALUE:LABEL, vireid.engine.ablation.grid): the design notes' names,
# which the report, the forest plot and README print.
GRID: dict[str, list[str]] = {
    EXPANSION: [
        "[none,0]:no expansion",
        "[dee,0]:DEE",
        "[dee1d,0]:DEE-1D",
        "[tmhee,0]:T-MHEE",
        "[cmatm,0]:CM-ATM",
        "[ssdec,0.1]:SS-DEC (+ InfoNCE)",
    ],
    MFA: ["[false,stage0]:MFA off", "[true,stage0]:MFA from stage 0", "[true,previous]:MFA from the previous stage"],
    DEPTH: ["1:1 stage-4 block", "2:2 stage-4 blocks", "3:3 stage-4 blocks"],
    SIZE: ["[48,24,[48,24]]:48x24 input", "[64,32,[64,32]]:64x32 input", "[96,48,[96,48]]:96x48 input"],
    SVDO: [
        "[[],[],0,0]:SVDO off",
        "[[2],[],1.0e-4,0]:O.F.",
        "[[],[4],0,1.0e-3]:O.W.",
        "[[2],[4],1.0e-4,1.0e-3]:O.F. + O.W.",
    ],
}
# The value of every axis that equals the base config (tests check it resolves to the base).
BASE_VALUES: dict[str, str] = {
    EXPANSION: "[dee,0]",
    MFA: "[true,stage0]",
    DEPTH: "1",
    SIZE: "[64,32,[64,32]]",
    SVDO: "[[],[],0,0]",
}
QUICK_GRID = {EXPANSION: ["[none,0]:no expansion", "[dee,0]:DEE"]}
# The design notes' questions, each answered by its axis against the reference cell (the axis titles).
QUESTIONS = {
    EXPANSION: "Which module replaces DEE?",
    MFA: "Which low-level source for MFA: stage 0 or the previous stage?",
    DEPTH: "Is one stage-4 block enough?",
    SIZE: "How much does the input size matter?",
    SVDO: "Does SVDO (ABD-Net) help the ViT?",
}
# The results file the README's ablation table and figure are drawn from (written by a full run;
# `--render` redraws both from it without training).
SUMMARY = ROOT / "benchmarks" / "results" / "ablation_default.json"
README = ROOT / "README.md"
TABLE_MARKERS = ("<!-- ablation_default:table -->", "<!-- /ablation_default:table -->")

# The same questions at the papers' scale: ViT-B/16 (12 blocks, patch 16) from ImageNet-21k weights on
# SYSU-MM01, DEEN's 151 epochs (configs/base.yaml); 2:1 sizes on the 16-pixel patch grid; O.W. on the
# stage-4 block, which is block 12 after the 12 trunk blocks.
GPU_BASE = "deen_vit_base.yaml"
GPU_GRID: dict[str, list[str]] = {
    EXPANSION: GRID[EXPANSION],
    MFA: GRID[MFA],
    DEPTH: GRID[DEPTH],
    SIZE: [
        "[256,128,[256,128]]:256x128 input",
        "[288,144,[288,144]]:288x144 input",
        "[384,192,[384,192]]:384x192 input",
    ],
    SVDO: [
        "[[],[],0,0]:SVDO off",
        "[[2],[],1.0e-4,0]:O.F.",
        "[[],[12],0,1.0e-3]:O.W.",
        "[[2],[12],1.0e-4,1.0e-3]:O.F. + O.W.",
    ],
}
# the axes' base values written out, so that the base config is one cell of each axis (the reference)
GPU_SET = [
    "model.pretrained=vit_base_patch16_224_in21k",
    "data.root=data/SYSU-MM01",
    "train.epochs=151",
    "model.args.mfa=true",
    "model.args.mfa_low=stage0",
    "model.args.svdo_of_stages=[]",
    "model.args.svdo_ow_blocks=[]",
    "loss.svdo_of.form=paper",  # the SVDO axis' O.F. weight 1e-4 is for the paper's squared form, as on the CPU grid
]
GPU_SEEDS = (0, 1, 2)


def titled(grid: dict[str, list[str]]) -> dict[str, list[str]]:
    """``grid`` with each axis titled by its question (``KEY:TITLE``), as ``vireid ablate`` takes it."""
    return {f"{k}:{QUESTIONS[k]}" if k in QUESTIONS else k: v for k, v in grid.items()}


def gpu_command(out: str = "runs/ablation_vit_b16_sysu") -> str:
    """The GPU-scale grid as shell commands: fetch the weights, then ``vireid ablate`` (not run here)."""
    grid = " \\\n    ".join(shlex.quote(f"{k}={','.join(v)}") for k, v in titled(GPU_GRID).items())
    return (
        f"vireid weights download vit_base_patch16_224_in21k\n"
        f"vireid ablate --config {GPU_BASE} --mode each --seeds {' '.join(map(str, GPU_SEEDS))} --jobs 1 "
        f"--out {out} \\\n  --set {' '.join(map(shlex.quote, GPU_SET))} \\\n  --grid {grid}"
    )


def reference_config(base: Config) -> Config:
    """DEEN-R50 (``configs/synthetic.yaml``, the demo's recipe) on ``base``'s data and budget (:data:`R50_SHARED`)."""
    sets = []
    for key in R50_SHARED:
        section, name = key.split(".")
        sets.append(f"{key}={json.dumps(getattr(getattr(base, section), name))}")
    return load_config(R50, sets)


def reference_text(rows: list[dict[str, Any]]) -> str:
    """The reference row's scores (mean ± std over its seeds), in one line."""
    row = rows[0]
    several = len(row["seeds"]) > 1
    scores = ", ".join(
        f"{name} {100 * row[m][0]:.1f}" + (f" ± {100 * row[m][1]:.1f}" if several else "")
        for m, name in (("rank1", "Rank-1"), ("mAP", "mAP"), ("mINP", "mINP"))
    )
    return (
        f"Reference row (a CNN on the same data and budget): DEEN-R50 with the demo's recipe "
        f"(`configs/synthetic.yaml`, from random weights), seeds {', '.join(map(str, row['seeds']))}: {scores} "
        f"({row['train_seconds'][0]:.0f} s of training per run)."
    )


def pretrained_settings(base: Config) -> PretrainSettings:
    """The pretraining settings whose output the base config loads (checked against its path)."""
    settings = PretrainSettings()
    want = Path(base.model.pretrained or "")
    if want != settings.default_path():
        raise ConfigError(
            f"{BASE}: model.pretrained is {str(want)!r}, expected the pretraining stand-in "
            f"{str(settings.default_path())!r} (benchmarks/vit_pretrain.py)"
        )
    return settings


def scale_text(base: Config, seeds: list[int], jobs: int, minutes: float) -> str:
    d, o, vit = base.data, base.optim, base.model.args.get("vit", {})
    s = PretrainSettings()
    return (
        f"Scale: DEEN-ViT on a {vit.get('depth')}-block, {vit.get('embed_dim')}-dim ViT (patch "
        f"{vit.get('patch_size')}, {d.height}x{d.width} input) fine-tuned from a synthetic "
        f"pretraining stand-in for ImageNet (`python -m benchmarks.vit_pretrain`: identity classification "
        f"on {s.num_ids} other synthetic identities at {s.height}x{s.width}, {s.epochs} epochs, "
        f"trained once and cached); {o.name} lr {o.lr:g} for the new "
        f"modules ({', '.join(o.head_modules)}), {o.backbone_lr_mult:g}x for the pretrained parts, label "
        f"smoothing {base.loss.label_smoothing:g}, triplet {base.loss.triplet_weight:g} / CPM "
        f"{base.loss.cpm_weight:g}; synthetic SYSU-MM01 layout ({d.synth.get('num_ids')} identities, "
        f"{d.synth.get('num_test_ids')} for test, {d.synth.get('images_per_id_per_cam')} images per camera, "
        f"difficulty {d.synth.get('difficulty')}); {base.train.epochs} epochs at batch {d.num_ids}x{d.num_pos}x2, "
        f"one thread per run; all-search single-shot, mean of 10 trials; seeds {', '.join(map(str, seeds))}; "
        f"one factor varied at a time, '(base)' marks the base value of the others.  Wall time {minutes:.0f} "
        f"min with {jobs} parallel runs, the reference row included.  GPU-scale numbers (ViT-B/16, "
        "ImageNet weights, the real datasets) need a GPU and the datasets: not measured here."
    )


def verdicts_text(rows: list[dict[str, Any]]) -> str:
    """One plain-words line per non-reference cell, grouped by design question."""
    rows = rows if not rows or "label" in rows[0] else label_rows(rows, split_grid(titled(GRID))[1])
    lines = []
    for axis, question in QUESTIONS.items():
        cells = [r for r in rows if axis in r["combo"] and not r["reference"] and r.get("diff")]
        if not cells:
            continue
        ref = next((r["label"] for r in rows if axis in r["combo"] and r["reference"]), None)
        lines.append(f"- {question}" + (f" (vs {ref})" if ref else ""))
        for r in cells:
            d = r["diff"]["rank1"]
            interval = f" [{100 * d.low:+.1f}, {100 * d.high:+.1f}]" if d.significant is not None else ""
            lines.append(f"  - {r['label']}: {100 * d.mean:+.1f}{interval} pp Rank-1 -> {r['verdict']}")
    return "\n".join(lines)


def _interval(d) -> str:
    if d.significant is None:
        return f"{100 * d.mean:+.1f} (one seed)"
    return f"{100 * d.mean:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]"


def readme_table(rows: list[dict[str, Any]]) -> str:
    """README's ablation table: per question, each alternative's paired differences and verdict."""
    lines = [
        "| question (reference) | alternative | Δ Rank-1 (pp) [95 % CI] | Δ mAP (pp) [95 % CI] | verdict (Rank-1) |",
        "|---|---|---:|---:|---|",
    ]
    for axis in QUESTIONS:
        cells = [r for r in rows if r.get("axis") == axis]
        ref = next((r["label"] for r in cells if r["reference"]), None)
        shown = [r for r in cells if not r["reference"] and r.get("diff")]
        for i, r in enumerate(shown):
            question = f"{r['title']} (vs {ref})" if i == 0 else ""
            verdict = r["verdict"] if r["verdict"] != "better" and r["verdict"] != "worse" else f"**{r['verdict']}**"
            lines.append(
                f"| {question} | {r['label']} | {_interval(r['diff']['rank1'])} | {_interval(r['diff']['mAP'])} | "
                f"{verdict} |"
            )
    return "\n".join(lines)


def render(summary: Path = SUMMARY, *, figure: Path = PLOT, readme: Path = README) -> tuple[Path, Path]:
    """Draw README's ablation figure and write README's ablation table, both from ``summary`` alone."""
    from vireid.engine.ablation import load_summary, plot
    from vireid.utils.io import atomic_write_text

    rows, _ = load_summary(summary)
    plot(rows, figure)
    text = readme.read_text()
    start, end = TABLE_MARKERS
    if start not in text or end not in text:
        raise VireidError(f"{readme}: no {start} ... {end} block for the ablation table")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(readme, f"{head}{start}\n{readme_table(rows)}\n{end}{tail}")
    return figure, readme


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.ablation_default",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="one seed, two values, 1 epoch")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="runs trained at once (default 2)")
    ap.add_argument("--out", default="runs/ablation_default")
    ap.add_argument(
        "--set",
        nargs="+",
        default=[],
        action="extend",
        metavar="KEY=VALUE",
        dest="overrides",
        help="overrides of the base config (e.g. train.steps_per_epoch=5)",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted grid in --out (finished runs reused, the others resumed)",
    )
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md and docs/images")
    ap.add_argument("--gpu-command", action="store_true", help="print the GPU-scale command and exit")
    ap.add_argument(
        "--render",
        action="store_true",
        help=f"redraw docs/images/{PLOT.name} and README's ablation table from {SUMMARY.relative_to(ROOT)} "
        "(no training) and exit",
    )
    args = ap.parse_args(argv)
    if args.gpu_command:
        print(gpu_command())
        return 0
    if args.render:
        try:
            for path in render():
                print(f"written: {path}")
        except VireidError as exc:
            print(f"error: {exc}")
            return 2
        return 0
    try:
        return _run(args)
    except VireidError as exc:
        print(f"error: {exc}")
        return 2


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    base = load_config(BASE, (["train.epochs=1", "eval.every=0"] if args.quick else []) + args.overrides)
    settings = pretrained_settings(load_config(BASE))
    if Path(base.model.pretrained or "") == settings.default_path():
        ensure_pretrained(settings, base.model.pretrained, threads=args.jobs)
    grid = QUICK_GRID if args.quick else GRID
    seeds = args.seeds[:1] if args.quick else args.seeds
    t1 = time.perf_counter()
    rows = run_ablation(base, titled(grid), args.out, seeds=seeds, mode="each", jobs=args.jobs, resume=args.resume)
    t2 = time.perf_counter()
    reference = run_ablation(
        reference_config(base), {}, Path(args.out) / "deen_r50", seeds=seeds, jobs=args.jobs, resume=args.resume
    )
    minutes = (time.perf_counter() - t1) / 60
    report, verdicts = report_markdown(rows), verdicts_text(rows)
    print(report, reference_text(reference), verdicts, sep="\n\n")
    print(
        f"grid: {(t2 - t1) / 60:.1f} min; reference row: {(time.perf_counter() - t2) / 60:.1f} min; "
        f"total with the pretraining check: {(time.perf_counter() - t0) / 60:.1f} min"
    )
    if not args.no_write:
        command = " ".join(
            ["python -m benchmarks.ablation_default", f"--jobs {args.jobs}"]
            + (["--quick"] if args.quick else [])
            + ([f"--set {' '.join(args.overrides)}"] if args.overrides else [])
        )
        if not args.quick:  # the one results file README's table and figure are drawn from
            write_summary(
                SUMMARY,
                rows,
                mode="each",
                seeds=seeds,
                command=command,
                scale=scale_text(base, seeds, args.jobs, minutes),
                reference_row=reference_text(reference),
            )
            render()
        body = (
            f"{scale_text(base, seeds, args.jobs, minutes)}\n\n{report}\n\n"
            f"{reference_text(reference)}\n\n"
            f"Verdicts (Rank-1, paired by seed against the reference cell):\n\n{verdicts}\n\n"
            f"Forest plot: `{Path(args.out) / 'ablation.png'}`"
            + (
                ""
                if args.quick
                else f"; README's table and `docs/images/{PLOT.name}` are drawn from `{SUMMARY.relative_to(ROOT)}`"
            )
            + "."
        )
        write_section("ablation_default", section("Ablation: the default grid", body, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
