"""The papers' scale, rehearsed: every paper config end to end on the CPU at the official counts.

    nice -n 10 python -m benchmarks.rehearsal                     # everything (hours on 2 cores)
    python -m benchmarks.rehearsal --configs deen_regdb,deen_sysu  # a part
    python -m benchmarks.rehearsal --quick                         # deen_regdb and deen_sysu
    python -m benchmarks.rehearsal --tiny                          # seconds: the self-test

For each dataset, ``vireid synth --layout L --scale paper`` writes the official identity, camera
and image counts (reused when present with the same settings).  For each paper config
(:data:`benchmarks._paper_runs.RUNS`) the real commands run, each in its own process and
measured (:mod:`benchmarks._rehearsal_run`: wall and CPU time, peak RSS, bytes written):

1. ``vireid train``, interrupted with SIGINT once epoch 1's checkpoint is written;
2. ``vireid train --resume``: epoch 2, the in-training evaluation that selects the best
   checkpoint, and the final full-protocol evaluation;
3. ``vireid test --run RUN``: every trial and direction;
4. ``vireid index build`` over the whole test gallery (every visible test image);
5. ``vireid report RUN`` where the command exists.

The configs run unchanged except: ``model.pretrained`` (a torchvision / timm-named file of random
weights that the benchmark writes), ``train.steps_per_epoch`` (``--steps``), ``train.epochs`` (2)
and the input size (divided by ``--factor``, rounded to the model's granularity).  Commands get
one CPU thread (``OMP_NUM_THREADS=1``): on a shared 2-core machine two threads cost about three
times the CPU time per image.  Also measured in this process: indexing the training set, one
sampler epoch at the authors' step count, and building every evaluation split.  The RESULTS.md
section ``rehearsal`` holds the per-phase table, what the rehearsal found, and the projection
of each full run at full size on one GPU (:mod:`benchmarks._rehearsal_report`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import _paper_runs as paper
from benchmarks._rehearsal_run import REPO, run_phase, stamped_lines, tail, tree_size, vireid

KEY = "rehearsal"
QUICK = ("deen_regdb", "deen_sysu")
TINY_SCALE = 0.004  # SYSU-MM01: 2 training ids (1 val), 1 test id, about 180 images
LAYOUT_OF = {"sysu": "sysu", "regdb": "regdb", "llcm": "llcm"}


def say(msg: str) -> None:
    print(f"[rehearsal {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.rehearsal", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--configs", default=None, help=f"comma-separated runs of: {', '.join(paper.BY_KEY)} (default all)")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--tiny", action="store_true", help="seconds-long self-test: tiny data and models, no RESULTS.md")
    ap.add_argument("--steps", type=int, default=None, help="training steps per epoch (default 3; tiny 6)")
    ap.add_argument("--factor", type=float, default=6.0, help="input size divisor (default %(default)s)")
    ap.add_argument("--data-scale", default=None, help="paper (default) or a fraction of the official counts")
    ap.add_argument("--data", type=Path, default=None, help="dataset folder (default data/rehearsal)")
    ap.add_argument("--work", type=Path, default=None, help="run folders and logs (default runs/rehearsal)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of each command (default 1)")
    ap.add_argument("--jobs", type=int, default=1, help="runs rehearsed at the same time (default 1)")
    ap.add_argument("--resume", action="store_true", help="keep the results of configs already rehearsed")
    ap.add_argument("--clean", action="store_true", help="delete each run folder once measured")
    ap.add_argument("--gpu-json", type=Path, help="gpu_check.json whose measured steps also project the runs")
    ap.add_argument("--results", type=Path, default=None, help="RESULTS.md to update (default benchmarks/RESULTS.md)")
    ap.add_argument("--no-write", action="store_true", help="update no RESULTS.md")
    ap.add_argument(
        "--render", action="store_true", help="write the section again from WORK/rehearsal.json without running"
    )
    args = ap.parse_args(argv)
    keys = args.configs.split(",") if args.configs else list(QUICK if args.quick else paper.BY_KEY)
    unknown = [k for k in keys if k not in paper.BY_KEY]
    if unknown:
        ap.error(f"--configs: unknown {', '.join(unknown)}; known: {', '.join(paper.BY_KEY)}")
    args.keys = keys
    args.steps = args.steps or (6 if args.tiny else 3)
    args.data_scale = args.data_scale or (str(TINY_SCALE) if args.tiny else "paper")
    base = Path(os.environ.get("VIREID_REHEARSAL_DIR", REPO))
    args.data = args.data or base / "data" / ("rehearsal-tiny" if args.tiny else "rehearsal")
    args.work = args.work or base / "runs" / ("rehearsal-tiny" if args.tiny else "rehearsal")
    return args


def tiny_overrides(cfg) -> list[str]:
    """Seconds-sized models and batches for the self-test (never in a measured rehearsal)."""
    out = ["data.num_ids=2", "data.num_pos=2", "data.workers=0", "data.pad=2"]
    if cfg.model.name == "deen_vit":
        vit = "{size: tiny, depth: 4, embed_dim: 48, num_heads: 3, patch_size: 8}"
        return out + [f"model.args.vit={vit}", "model.args.stages=[1,1,1,1]"]
    return out + ["model.args.base_channels=4", "model.args.layers=[1,1,1,1]"]


# ------------------------------------------------------------------------------------- data
def dataset(args, layout: str, results: dict) -> Path:
    """The rehearsal dataset of ``layout``, generated with ``vireid synth`` unless it is there."""
    from vireid.data.synth import read_meta, resolve_params

    root = args.data / f"{layout}-{args.data_scale}"
    wanted = resolve_params(layout, scale=args.data_scale)
    meta = read_meta(root)
    record = args.data / f"{layout}-{args.data_scale}.phase.json"
    if meta is not None and meta.get("params") == wanted and record.is_file():
        say(f"dataset {root}: present, same settings (its generation was measured then)")
        results["datasets"][layout] = {**json.loads(record.read_text()), "reused": True}
        return root
    argv = vireid("synth", "--layout", layout, "--scale", args.data_scale, "--out", str(root), "--workers", "2")
    if meta is not None:
        argv.append("--force")
    load = _loadavg()
    phase = run_phase(f"synth {layout}", argv, log=args.work / "logs" / f"synth-{layout}.log", outputs=[root], echo=say)
    if phase.rc != 0:
        raise RuntimeError(f"vireid synth failed: {tail(phase.log)}")
    info = {**phase.to_json(), "loadavg_before": load, "loadavg_after": _loadavg()}
    info["images"] = json.loads((root / "synth.json").read_text())["num_images"]
    info["disk_mib"] = sum(tree_size([root]).values()) / 2**20
    args.data.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(info, indent=1))
    results["datasets"][layout] = info
    return root


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def library_phases(cfg, root: Path) -> dict[str, Any]:
    """In this process, at full count: index the training set, one sampler epoch at the authors'
    step count, every evaluation split (listing and gallery draws)."""
    from dataclasses import replace

    from vireid.config import build
    from vireid.data.sampler import CrossModalIdentitySampler
    from vireid.data.train_dataset import CrossModalTrainDataset
    from vireid.data.transforms import TrainTransform

    cfg = replace(cfg, data=replace(cfg.data, root=str(root), synth={}))
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    ds = build.build_dataset(cfg.data)
    records = ds.train
    out["index_train_s"] = time.perf_counter() - t0
    out["train_images"] = len(records)
    t0 = time.perf_counter()
    data = CrossModalTrainDataset(records, transform=TrainTransform(**build.train_transform_kwargs(cfg.data)))
    sampler = CrossModalIdentitySampler(
        data.visible_labels, data.infrared_labels, num_ids=cfg.data.num_ids, num_instances=cfg.data.num_pos
    )
    n = sum(1 for _ in sampler)
    out["sampler_epoch_s"] = time.perf_counter() - t0
    out["sampler_steps"] = sampler.batches_per_epoch
    out["sampler_pairs"] = n
    t0 = time.perf_counter()  # a resume at the epoch's last step: the skipped batches are never drawn
    sampler.set_epoch(1, start_batch=sampler.batches_per_epoch - 1)
    out["sampler_resume_pairs"] = sum(1 for _ in sampler)
    out["sampler_resume_s"] = time.perf_counter() - t0
    for final in (False, True):
        plan = build.final_eval(cfg, ds) if final else build.selection_eval(cfg, ds)
        t0 = time.perf_counter()
        splits = list(ds.eval_splits(trials=plan["trials"], directions=plan["directions"]))
        key = "final" if final else "selection"
        out[f"{key}_splits_s"] = time.perf_counter() - t0
        out[f"{key}_splits"] = len(splits)
        out[f"{key}_images"] = len({r.path for s in splits for r in (*s.query, *s.gallery)})
        out[f"{key}_distances_mib"] = sum(len(s.query) * len(s.gallery) for s in splits) * 4 / 2**20
        out[f"{key}_flip"] = bool(plan["flip"])
    return out


def gallery_source(cfg, root: Path, work: Path, name: str) -> Path:
    """What ``vireid index build --gallery`` gets: every visible test image (the layout's folder
    where it has one, else a CSV manifest of the reader's records)."""
    from vireid.config import build
    from vireid.data.protocols import collect_folder_records, format_ids

    if cfg.data.dataset == "llcm":
        return root / "test_vis"
    ds = build.build_dataset(cfg.data)
    if cfg.data.dataset == "regdb":
        records = ds.test("visible")
    else:
        cams = [(f"cam{c}", c) for c in (1, 2, 4, 5)]
        records = collect_folder_records(ds.root, cams, format_ids(ds.test_ids), "visible")
    path = work / f"gallery-{name}.csv"
    rows = ["path,pid,camid,modality"] + [f"{r.path},{r.pid},{r.camid},visible" for r in records]
    path.write_text("\n".join(rows) + "\n")
    return path


# ------------------------------------------------------------------------------------- runs
def pretrained_file(cfg, folder: Path) -> Path:
    """A torchvision (ResNet) or timm (ViT) named file of random weights shaped for ``cfg``'s backbone."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    args = dict(cfg.model.args)
    if cfg.model.name == "deen_vit":
        from vireid.models.deen_vit import resolve_vit
        from vireid.models.vit import VisionTransformer

        kw = resolve_vit(args.get("vit", "base"))
        name = "vit_{embed_dim}d{depth}p{patch_size}_random.pth".format(**kw)
        build = lambda: VisionTransformer(**kw, img_size=14 * int(kw["patch_size"]), num_classes=1000)  # noqa: E731
    else:
        from vireid.models.resnet import ResNet

        layers = tuple(args.get("layers", (3, 4, 6, 3)))
        base = int(args.get("base_channels", 64))
        name = f"resnet_{base}_{'-'.join(map(str, layers))}_random.pth"
        build = lambda: ResNet(layers=layers, base_channels=base, num_classes=1000)  # noqa: E731
    path = folder / name
    if not path.is_file():
        torch.manual_seed(0)
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(build().state_dict(), tmp)
        os.replace(tmp, path)
    return path


def last_step(run: Path) -> int:
    try:
        return int(json.loads((run / "checkpoints" / "last.json").read_text()).get("step", -1))
    except (OSError, ValueError):
        return -1


def rehearse(args, key: str, roots: dict[str, Path]) -> dict[str, Any]:
    """Every phase of one paper run; a failed phase ends the run (later phases are not started)."""
    spec = paper.BY_KEY[key]
    base_cfg = spec.load()
    size = paper.scaled_size(base_cfg, 2 * args.factor if args.tiny else args.factor)
    size = (32, 16) if args.tiny else size
    root = roots[base_cfg.data.dataset]
    extra = list(tiny_overrides(base_cfg)) if args.tiny else []
    probe = spec.load(extra)
    pre = pretrained_file(probe, args.work / "pretrained")
    overrides = [
        f"data.root={root}",
        f"model.pretrained={pre}",
        f"train.steps_per_epoch={args.steps}",
        "train.epochs=2",
        *paper.size_overrides(base_cfg, size),
        *extra,
        *spec.overrides,
    ]
    cfg = spec.load([o for o in overrides if not o.startswith("model.pretrained")])
    run = args.work / key
    if run.exists():
        shutil.rmtree(run)
    logs = args.work / "logs"
    from benchmarks._common import commit

    out: dict[str, Any] = {
        "key": key,
        "commit": commit(),
        "config": spec.config,
        "note": spec.note,
        "size": list(size),
        "overrides": overrides,
        "phases": [],
        "checks": [],
        "failed": None,
    }
    say(f"{key}: {spec.config} {' '.join(spec.overrides)} at {size[0]}x{size[1]}, {args.steps} steps x 2 epochs")
    out["library"] = library_phases(cfg, root)
    train = vireid("train", "--config", spec.config, "--out", str(run), *overrides)

    def phase(name: str, argv: list[str], expect: int = 0, **kw) -> dict | None:
        p = run_phase(
            f"{key}: {name}",
            argv,
            log=logs / f"{key}-{name.replace(' ', '-')}.log",
            threads=args.threads,
            echo=say,
            **kw,
        )
        rec = {**p.to_json(), "name": name, "loadavg": _loadavg()}
        out["phases"].append(rec)
        if p.rc != expect:
            out["failed"] = f"{name}: exit code {p.rc} (expected {expect}): {tail(p.log, 3)}"
            say(f"{key}: FAILED {out['failed']}")
            return None
        return rec

    rec = phase(
        "train (interrupted)",
        train,
        expect=130,
        outputs=[run],
        interrupt_when=lambda: last_step(run) >= args.steps,
        poll=0.05,
    )
    if rec is None:
        return out
    rec.update(train_marks(rec["log"], epoch=1))
    rec = phase("train --resume", [*train, "--resume"], outputs=[run])
    if rec is None:
        return out
    rec.update(train_marks(rec["log"], epoch=2))
    out["checks"] += check_train(run, rec, args.steps, cfg)
    rec = phase("test", vireid("test", "--run", str(run)), outputs=[run / "test"])
    if rec is None:
        return out
    out["checks"] += check_metrics(run / "test" / "metrics.json", cfg, "vireid test")
    gallery = gallery_source(cfg, root, args.work, key)
    index = run / "gallery.index"
    rec = phase(
        "index build",
        vireid("index", "build", "--checkpoint", str(run), "--gallery", str(gallery), "--modality", "visible")
        + ["--out", str(index), "--no-progress"],
        outputs=[index],
    )
    if rec is None:
        return out
    out["checks"] += check_index(index, gallery)
    from vireid.cli.main import COMMANDS

    if "report" in COMMANDS:
        phase("report", vireid("report", str(run), "--out", str(run / "report")), outputs=[run / "report"])
    else:
        out["report"] = "vireid report: not in this version of vireid (skipped)"
    out["files"] = file_sizes(run)
    return out


def train_marks(log: str, epoch: int) -> dict[str, Any]:
    """Times inside a training phase from its stamped log: start-up (data indexing, model, weights),
    the epoch's steps, the in-training evaluation, and the final evaluation."""
    lines = stamped_lines(log)
    marks: dict[str, Any] = {}
    started = paper_t(lines, r"^training \w+")
    steps_end = paper_t(lines, rf"^epoch {epoch}/2 +100%", last=True)
    evaluated = paper_t(lines, rf"^epoch {epoch}: rank1=")
    final = paper_t(lines, r"^run folder: ")
    marks["startup_s"] = started
    if started is not None and steps_end is not None:
        marks["steps_s"] = steps_end - started
    if steps_end is not None and evaluated is not None:
        marks["selection_eval_s"] = evaluated - steps_end
    if evaluated is not None and final is not None:
        marks["final_eval_s"] = final - evaluated
    resumed = [text for _, text in lines if text.startswith("resumed from")]
    if resumed:
        marks["resumed"] = resumed[0]
    return marks


def paper_t(lines, pattern: str, last: bool = False) -> float | None:
    from benchmarks._rehearsal_run import first_time

    return first_time(lines, pattern, last)


def check_train(run: Path, rec: dict, steps: int, cfg) -> list[str]:
    resumed = rec.get("resumed", "")
    m = re.search(r"\(epoch (\d+), step (\d+)\)", resumed)
    if not m or (int(m.group(1)), int(m.group(2))) != (2, steps):
        raise AssertionError(f"{run}: resume did not continue at epoch 2, step {steps}: {resumed!r}")
    if not (run / "checkpoints" / "best.safetensors").is_file():
        raise AssertionError(f"{run}: no best checkpoint after the selection")
    return [f"resumed at epoch 2, step {steps}", *check_metrics(run / "metrics.json", cfg, "vireid train")]


def check_metrics(path: Path, cfg, who: str) -> list[str]:
    from vireid.config import build

    summary = json.loads(path.read_text())
    plan = build.final_eval(cfg)
    want_trials = len(plan["trials"]) if plan["trials"] else 1
    got = {d: v["num_trials"] for d, v in summary["directions"].items()}
    want = {d: want_trials for d in plan["directions"]}
    if got != want:
        raise AssertionError(f"{path}: directions x trials {got}, expected {want}")
    return [f"{who}: {len(got)} direction(s) x {want_trials} trial(s)"]


def check_index(index: Path, gallery: Path) -> list[str]:
    entries = json.loads((index / "index.json").read_text())["entries"]
    want = (
        sum(1 for p in gallery.rglob("*") if p.suffix.lower() in (".jpg", ".bmp", ".png"))
        if gallery.is_dir()
        else len(gallery.read_text().splitlines()) - 1
    )
    if len(entries) != want:
        raise AssertionError(f"{index}: {len(entries)} entries, the gallery has {want} images")
    return [f"index: {want} gallery images"]


def file_sizes(run: Path) -> dict[str, float]:
    """MiB of the files a run leaves: the last checkpoint (weights + state), the best weights,
    logs and metrics, the index."""
    sizes = tree_size([run])
    mib = lambda pred: sum(v for k, v in sizes.items() if pred(Path(k).relative_to(run))) / 2**20  # noqa: E731
    return {
        "last checkpoint": mib(lambda p: p.parts[0] == "checkpoints" and p.parts[1].startswith("step-")),
        "best weights": mib(lambda p: p.as_posix() == "checkpoints/best.safetensors"),
        "metrics and logs": mib(lambda p: p.parts[0] in ("metrics.jsonl", "metrics.json", "tb", "config.yaml")),
        "index": mib(lambda p: p.parts[0] == "gallery.index"),
        "whole run folder": sum(sizes.values()) / 2**20,
    }


# ------------------------------------------------------------------------------------- main
def settings(args) -> dict[str, Any]:
    return {
        "data_scale": args.data_scale,
        "steps": args.steps,
        "factor": args.factor,
        "threads": args.threads,
        "tiny": args.tiny,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from benchmarks._rehearsal_report import publish_section, save

    args.work.mkdir(parents=True, exist_ok=True)
    state_path = args.work / "rehearsal.json"
    if args.render:
        if not state_path.is_file():
            print(f"rehearsal: {state_path}: no rehearsal to render (run one first)", file=sys.stderr)
            return 2
        results = json.loads(state_path.read_text())
        text = publish_section(results, results.get("argv", []), args, write=not args.no_write)
        (args.work / "rehearsal.md").write_text(text)
        return 0
    results: dict[str, Any] = {"settings": settings(args), "datasets": {}, "configs": {}, "started": time.time()}
    results["argv"] = list(argv if argv is not None else sys.argv[1:])
    if args.resume and state_path.is_file():
        old = json.loads(state_path.read_text())
        if old.get("settings") == results["settings"]:
            results["configs"] = {k: v for k, v in old.get("configs", {}).items() if not v.get("failed")}
            results["started"] = old.get("started", results["started"])
    results["loadavg_start"] = _loadavg()
    from benchmarks._common import commit

    results.setdefault("commit", commit())
    layouts = sorted({paper.BY_KEY[k].load().data.dataset for k in args.keys})
    roots = {layout: dataset(args, layout, results) for layout in layouts}
    save(state_path, results)
    for key in args.keys:  # every pretrained file first: two jobs must not write the same one
        spec = paper.BY_KEY[key]
        pretrained_file(spec.load(tiny_overrides(spec.load()) if args.tiny else []), args.work / "pretrained")
    lock = threading.Lock()

    def one(key: str) -> None:
        t0 = time.perf_counter()
        try:
            out = rehearse(args, key, roots)
        except AssertionError as exc:
            out = {"key": key, "failed": f"check: {exc}", "phases": []}
        out["seconds"] = time.perf_counter() - t0
        with lock:
            results["configs"][key] = out
            save(state_path, results)
        if args.clean:
            shutil.rmtree(args.work / key, ignore_errors=True)

    todo = [k for k in args.keys if k not in results["configs"]]
    for key in set(args.keys) - set(todo):
        say(f"{key}: kept from the earlier rehearsal (--resume)")
    if args.jobs > 1:  # the costliest first, so that the two ends meet
        todo.sort(key=lambda k: -paper.run_plan(paper.BY_KEY[k].load())["final_images"])
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for future in [pool.submit(one, key) for key in todo]:
            future.result()
    results["configs"] = {k: results["configs"][k] for k in args.keys if k in results["configs"]}
    results["loadavg_end"] = _loadavg()
    results["finished"] = time.time()
    if not args.tiny:
        from benchmarks._rehearsal_report import projections

        results["projection"] = projections(list(paper.BY_KEY), args.gpu_json)  # every paper config
    save(state_path, results)
    failed = [k for k, v in results["configs"].items() if v.get("failed")]
    text = publish_section(results, results["argv"], args, write=not args.no_write)
    (args.work / "rehearsal.md").write_text(text)
    say(
        f"done: {len(results['configs']) - len(failed)} of {len(results['configs'])} runs passed"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
