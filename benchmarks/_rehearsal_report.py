"""The RESULTS.md section of ``benchmarks.rehearsal``: per-phase table, findings, projection.

The projection of a full run at full size on one GPU (:func:`projections`): the training steps
and evaluation forwards of the run (:func:`benchmarks._paper_runs.run_plan`, at the official
counts) times either

* FLOPs per step and per evaluation forward, counted at the config's full size with
  ``torch.utils.flop_counter`` on fake tensors (no compute; forward + backward of the model,
  without the losses, which are a few matrix products of the batch's embeddings), at an assumed
  sustained rate of 10, 20 or 40 TFLOP/s (the rates ``bench_train_step_authors`` projects at); or
* the step time and evaluation throughput ``benchmarks.gpu_check`` measured on a GPU
  (``--gpu-json gpu_check.json``), in the config's own precision.

Both assume the loader keeps up with the GPU (enough workers) and count no start-up or I/O.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks import _paper_runs as paper
from benchmarks._rehearsal_findings import FINDINGS, finding_facts

RATES_TFLOPS = (10.0, 20.0, 40.0)


def save(path: Path, results: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ projection
def count_flops(cfg) -> dict[str, float]:
    """FLOPs of one training step (forward + backward, batch 2 P K) and of one evaluation forward
    of one image, at ``cfg``'s size, on fake tensors (weights real, activations never computed)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    from vireid.config import build
    from vireid.models.base import MODAL_BOTH, MODAL_VISIBLE

    model = build.build_model(cfg.model, paper.NUM_CLASSES[cfg.data.dataset], pretrained=None).train()
    n = cfg.data.num_ids * cfg.data.num_pos
    h, w = cfg.data.height, cfg.data.width
    with FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.randn(n, 3, h, w)
        with FlopCounterMode(display=False) as fc:
            out = model(x, x.clone(), MODAL_BOTH)
            tensors = [out.feat, out.logits, *out.aux_losses.values()]
            sum(t.float().sum() for t in tensors).backward()
        step = fc.get_total_flops()
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(torch.randn(2, 3, h, w), None, MODAL_VISIBLE)
        forward = fc.get_total_flops() / 2
    return {"step_tflop": step / 1e12, "forward_gflop": forward / 1e9}


def measured_times(gpu_json: Path | None) -> dict[str, dict[str, float]]:
    """``{run key: {step_s, forward_s}}`` from a ``gpu_check.json`` (section ``recipes``/``vit``)."""
    if gpu_json is None or not Path(gpu_json).is_file():
        return {}
    out: dict[str, dict[str, float]] = {}
    for r in json.loads(Path(gpu_json).read_text()).get("rows", []):
        d = r.get("data") or {}
        if r.get("status") == "ok" and d.get("run") and d.get("config_precision"):
            out.setdefault(d["run"], {})[d["kind"]] = d["seconds"]
    return out


def projections(keys: list[str], gpu_json: Path | None = None) -> dict[str, Any]:
    measured = measured_times(gpu_json)
    out: dict[str, Any] = {}
    for key in keys:
        cfg = paper.BY_KEY[key].load(["model.pretrained=none"])
        plan = paper.run_plan(cfg)
        rec: dict[str, Any] = {"plan": plan}
        try:
            t0 = time.perf_counter()
            rec["flops"] = count_flops(cfg)
            rec["flops"]["count_s"] = time.perf_counter() - t0
            total = plan["steps"] * rec["flops"]["step_tflop"] * 1e12
            total += plan["eval_forwards"] * rec["flops"]["forward_gflop"] * 1e9
            rec["hours_at"] = {str(r): total / (r * 1e12) / 3600 for r in RATES_TFLOPS}
            rec["eval_share"] = plan["eval_forwards"] * rec["flops"]["forward_gflop"] * 1e9 / total
        except Exception as exc:  # noqa: BLE001 - a model the fake tensors cannot run: no FLOP figure
            rec["flops_error"] = f"{type(exc).__name__}: {exc}"[:200]
        m = measured.get(key, {})
        if "step" in m and "forward" in m:
            rec["measured"] = paper.project_hours(cfg, m["step"], m["forward"])
        out[key] = rec
    return out


# ------------------------------------------------------------------------------ markdown
def _f(v: Any, digits: int = 1) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def phase_table(results: dict) -> str:
    rows = [
        "| run | phase | wall s | CPU s | peak RSS MiB | tree PSS MiB | written MiB | inside the phase |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for layout, d in results["datasets"].items():
        note = f"{d.get('images', '')} images, {_f(d.get('disk_mib'), 0)} MiB; load {d.get('loadavg_before')}"
        if d.get("reused"):
            note += " (measured when generated)"
        rows.append(
            f"| {layout} | vireid synth --scale {results['settings']['data_scale']} | {_f(d['wall_s'])} | "
            f"{_f(d['cpu_s'])} | {_f(d['peak_rss_mib'], 0)} | {_f(d.get('tree_pss_mib'), 0)} | "
            f"{_f(d['written_mib'], 0)} | {note} |"
        )
    for key, c in results["configs"].items():
        for p in c.get("phases", []):
            inside = []
            for label, k in (
                ("start-up", "startup_s"),
                ("steps", "steps_s"),
                ("selection eval", "selection_eval_s"),
                ("final eval", "final_eval_s"),
            ):
                if p.get(k) is not None:
                    inside.append(f"{label} {p[k]:.0f} s")
            if p.get("interrupted"):
                inside.append("SIGINT after epoch 1's checkpoint")
            if p["rc"] not in (0, 130):
                inside.append(f"exit {p['rc']}")
            rows.append(
                f"| {key} | {p['name']} | {_f(p['wall_s'])} | {_f(p['cpu_s'])} | {_f(p['peak_rss_mib'], 0)} | "
                f"{_f(p['tree_pss_mib'], 0)} | {_f(p['written_mib'], 1)} | {'; '.join(inside)} |"
            )
    return "\n".join(rows)


def library_table(results: dict) -> str:
    rows = [
        "| run | training images | index them s | sampler epoch: steps, pairs, s | resume at its last step: "
        "pairs, s | selection eval: splits, images, flip | full protocol: splits, images, flip | build all "
        "splits s | full protocol's distances MiB |",
        "|---|---:|---:|---|---|---|---|---:|---:|",
    ]
    for key, c in results["configs"].items():
        lib = c.get("library")
        if not lib:
            continue
        resume = f"{lib['sampler_resume_pairs']}, {lib['sampler_resume_s']:.3f}" if "sampler_resume_s" in lib else "n/a"
        rows.append(
            f"| {key} | {lib['train_images']} | {lib['index_train_s']:.2f} | {lib['sampler_steps']}, "
            f"{lib['sampler_pairs']}, {lib['sampler_epoch_s']:.2f} | {resume} | {lib['selection_splits']}, "
            f"{lib['selection_images']}, {'yes' if lib['selection_flip'] else 'no'} | {lib['final_splits']}, "
            f"{lib['final_images']}, {'yes' if lib['final_flip'] else 'no'} | {lib['final_splits_s']:.2f} | "
            f"{lib.get('final_distances_mib', 0):.0f} |"
        )
    return "\n".join(rows)


def files_table(results: dict) -> str:
    rows = ["| run | last checkpoint MiB | best weights MiB | metrics and logs MiB | index MiB | run folder MiB |"]
    rows.append("|---|---:|---:|---:|---:|---:|")
    for key, c in results["configs"].items():
        f = c.get("files")
        if f:
            rows.append(
                f"| {key} | {f['last checkpoint']:.1f} | {f['best weights']:.1f} | {f['metrics and logs']:.2f} | "
                f"{f['index']:.1f} | {f['whole run folder']:.1f} |"
            )
    return "\n".join(rows)


def projection_table(results: dict) -> str:
    proj = results.get("projection") or {}
    if not proj:
        return ""
    rates = " | ".join(f"h at {r:g} TFLOP/s" for r in RATES_TFLOPS)
    rows = [
        f"| run | steps (epochs x steps/epoch, batch) | TFLOP/step | eval forwards | GFLOP/forward | eval share | "
        f"{rates} | h measured on a GPU |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(RATES_TFLOPS) + "---:|",
    ]
    for key, p in proj.items():
        plan, fl = p["plan"], p.get("flops")
        hours = (
            " | ".join(f"{p['hours_at'][str(r)]:.1f}" for r in RATES_TFLOPS)
            if fl
            else " | ".join("n/a" for _ in RATES_TFLOPS)
        )
        meas = f"{p['measured']['total_h']:.1f}" if p.get("measured") else "not measured"
        step = f"{fl['step_tflop']:.2f}" if fl else "n/a"
        fwd = f"{fl['forward_gflop']:.1f}" if fl else "n/a"
        share = f"{100 * p['eval_share']:.0f} %" if fl else "n/a"
        rows.append(
            f"| {key} | {plan['steps']} ({plan['epochs']} x {plan['steps_per_epoch']}, {plan['batch']}) | "
            f"{step} | {plan['eval_forwards']} | {fwd} | {share} | {hours} | {meas} |"
        )
    return "\n".join(rows)


def _older(results: dict) -> str:
    """`` (agw_sysu at X, deen_regdb at Y)``: the runs kept from a rehearsal at another commit."""
    older = [
        f"{k} at {c['commit']}"
        for k, c in results["configs"].items()
        if c.get("commit") and c["commit"] != results.get("commit")
    ]
    return f" ({', '.join(older)})" if older else ""


def _skipped_reports(results: dict) -> list[str]:
    skipped = [k for k, c in results["configs"].items() if c.get("report")]
    if not skipped:
        return []
    return [f"- vireid report: skipped for {', '.join(skipped)}, rehearsed at a commit without it"]


def section_body(results: dict, args) -> str:
    s = results["settings"]
    # the commands' own times, summed: a rehearsal resumed in several sittings spans idle hours
    wall = sum(p["wall_s"] for c in results["configs"].values() for p in c.get("phases", [])) / 3600
    wall += sum(d.get("wall_s", 0) for d in results["datasets"].values() if not d.get("reused")) / 3600
    cpu = sum(p["cpu_s"] for c in results["configs"].values() for p in c.get("phases", []))
    cpu += sum(d["cpu_s"] for d in results["datasets"].values() if not d.get("reused"))
    failed = {k: c["failed"] for k, c in results["configs"].items() if c.get("failed")}
    missing = [r.key for r in paper.RUNS if r.key not in results["configs"]]
    sizes = ", ".join(f"{k} {c['size'][0]}x{c['size'][1]}" for k, c in results["configs"].items() if c.get("size"))
    parts = [
        f"Settings: datasets at scale `{s['data_scale']}` of the official counts (`vireid synth --scale`), "
        f"{s['steps']} training steps x 2 epochs (interrupted after epoch 1, then `--resume`), input sizes "
        f"divided by {s['factor']:g} ({sizes}), {s['threads']} CPU thread per command, pretrained files of "
        "random weights in the torchvision / timm names. Everything else as shipped: the sampler, "
        "the in-training evaluation and best-checkpoint rule, `vireid test` over every trial and direction, "
        "an index over every visible test image.",
        "",
        f"Rehearsed at commit {results.get('commit', 'unknown')}" + _older(results) + ". "
        f"Total: {wall:.2f} h wall, {cpu / 3600:.2f} h CPU of the commands (each phase's, summed); load average "
        f"{results.get('loadavg_start')} at the start, {results.get('loadavg_end')} at the end "
        "(the machine is shared: wall times stretch with the load, CPU times do not).",
        "",
        "Result: "
        + (
            "every run passed its checks"
            if not failed
            else "FAILED: " + "; ".join(f"{k}: {v}" for k, v in failed.items())
        )
        + f" ({len(results['configs'])} of {len(paper.RUNS)} paper configs rehearsed"
        + (f"; not rehearsed: {', '.join(missing)}, projected only" if missing else "")
        + ").",
        "",
        "### Per phase",
        "",
        phase_table(results),
        "",
        "Start-up: data indexing, model, pretrained weights, resume state. The selection evaluation is the "
        "one after the epoch (`eval.select`), the final one the full protocol on the best checkpoint. Peak "
        "RSS: the largest single process; tree PSS: the summed proportional set size of the process tree "
        "(DataLoader workers included, shared pages counted once), sampled every second.",
        "",
        "### At full count, in one process (library calls)",
        "",
        library_table(results),
        "",
        "### Files a run leaves",
        "",
        files_table(results),
        "",
        "### Checks",
        "",
        *[f"- {k}: " + "; ".join(c.get("checks", [])) for k, c in results["configs"].items() if c.get("checks")],
        *_skipped_reports(results),
    ]
    if FINDINGS:
        facts = finding_facts(results)
        parts += ["", "### What the rehearsal found, and what was fixed", ""]
        parts += [f"- {f.format(**facts)}" for f in FINDINGS]
    table = projection_table(results)
    if table:
        parts += [
            "",
            "### A full run at full size on one GPU (projection)",
            "",
            table,
            "",
            "Steps: the authors' sampler count at the official training set x the recipe's epochs; eval "
            "forwards: every in-training evaluation (`eval.every` / `eval.start` / `eval.select`) and the "
            "final full protocol, flip doubling the forwards, gallery draws counted once per distinct image. "
            "FLOPs counted at full size on fake tensors (model forward + backward, losses left out). "
            "Hours assume the loader keeps up and a sustained rate; a GPU's sustained rate depends on the "
            "precision (the configs train in fp32, DEEN-ViT in bf16) and is measured by "
            "`python -m benchmarks.gpu_check` (sections `recipes` and `vit`), whose JSON this table takes "
            "with `--gpu-json`.",
        ]
    return "\n".join(parts)


def publish_section(results: dict, argv: list[str], args, write: bool = True) -> str:
    from benchmarks._common import publish, write_section

    title = "Rehearsal: every paper config end to end at the official datasets' counts (CPU)"
    body = section_body(results, args)
    text = publish(KEY_OF_SECTION, title, body, argv=argv, write=False, module="rehearsal")
    target = args.results
    if write and not args.tiny:
        from benchmarks._common import RESULTS

        write_section(KEY_OF_SECTION, text, target or RESULTS)
    elif write and target is not None:
        write_section(KEY_OF_SECTION, text, target)
    return text


KEY_OF_SECTION = "rehearsal"
