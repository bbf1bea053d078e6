"""One prepared GPU check: vireid's CUDA paths measured against the authors' DEEN step.

Run from the repository (no install needed)::

    PYTHONPATH=src python3 -m benchmarks.gpu_check --out $OUT     # <= 8 min on one GPU
    PYTHONPATH=src python3 -m benchmarks.gpu_check --quick         # <= 2 min, smaller sizes
    PYTHONPATH=src python3 -m benchmarks.gpu_check --dry           # seconds, CPU, tiny sizes

Sections (each caught on its own: a failure is reported in the table and the next one runs):

* ``env``: GPU, driver, torch / CUDA / cuDNN / NCCL versions, optional packages.
* ``step``: DEEN-R50 training step at 384x144 with the authors' batch (6 ids x 4 x 2):
  authors'-style fp32 vs ours in fp32, AMP fp16 + GradScaler, bf16, bf16 + channels_last;
  images/s, paired ratios, peak ``torch.cuda.max_memory_allocated``
  (:mod:`benchmarks._gpu_step`).
* ``recipes``: the step of each CNN paper config as shipped (``deen_sysu``, ``deen_regdb``,
  ``agw_sysu`` at 288x144 with 8 x 4 x 2, ``abd_sysu`` with ABD-Net's attentive branch) and
  ``vit``: DEEN-ViT-B/16 at 288x144, 6 x 4 x 2, with each expansion module: fp32, bf16 and fp16 +
  GradScaler, peak memory, and the test-time descriptor (:mod:`benchmarks._gpu_recipes`).
* ``train``: 20 steps of ``vireid train`` end to end with DDP (NCCL) in one process, without
  DDP, and with 2 processes when 2 GPUs are visible (:mod:`benchmarks._gpu_train`).
* ``eval`` / ``search``: 8000 x 10000 evaluation and 1000 x 100k x 2048 top-10 search, GPU
  against CPU, same results (:mod:`benchmarks._gpu_search`).
* ``compile``: ``torch.compile`` against eager (compile time reported apart).
* ``projection``: one SYSU-MM01 epoch and the 151-epoch recipe in hours; the hours of every paper
  config's full run (training steps and every evaluation, in the config's precision).

On CUDA every section runs in a child process with a time limit (a hang or a broken CUDA
context cannot take the rest down) inside a global budget; a section that does not fit is
skipped with a note.  Exit status: 0 all passed, 1 something failed or was skipped for time,
2 no CUDA device (without ``--dry``).  ``--out DIR`` receives ``gpu_check.md`` (the RESULTS.md
section), ``gpu_check.json`` and ``gpu_check.log``, rewritten after every section; merge the
section into RESULTS.md elsewhere with ``--merge-section DIR/gpu_check.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from benchmarks import _gpu_env
from benchmarks._gpu_common import REPO, T0_ENV, Rows, Settings, fail_row, python, say, skip_row, stream, write_json

KEY, TITLE = "gpu_check", "GPU check: CUDA paths against the authors' DEEN step"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
# section -> (time cap in s: full, quick); run in this order ("env", "projection": in this process)
CAPS: dict[str, tuple[float, float]] = {
    "env": (60, 60),
    "step": (150, 50),
    "recipes": (100, 30),
    "vit": (110, 35),
    "train": (120, 45),
    "eval": (60, 20),
    "search": (60, 25),
    "compile": (150, 45),
    "projection": (10, 10),
}
BUDGET = {"full": 465.0, "quick": 110.0, "dry": 400.0}  # s; a killed section costs at most ~10 s more
MIN_START = 15.0  # a section is not started with less time left
NOTES = (
    "Step: pre-augmented batches in pinned memory copied to the GPU each step (as from a loader "
    "worker), forward, losses, backward, SGD, `torch.cuda.synchronize()`; variants interleaved in rotated "
    "rounds, ratios paired per round; `cudnn.benchmark` on as in DEEN/train.py; fp32 = PyTorch defaults. "
    "Memory: peak `max_memory_allocated` during one step above what was resident (all models' weights and "
    "optimizer states). Recipes / vit: each paper config built from its shipped YAML (its model, losses "
    "and optimizer; random weights), its batch and input size. Projection: GPU step time x steps (the "
    "SYSU epoch and recipe rows: no evaluation; the full-run rows: plus every in-training and the final "
    "evaluation at the descriptor's measured speed, in the config's precision), loader assumed to keep up."
)


def _runner(name: str) -> Callable[[Settings, Rows], None]:
    if name == "step":
        from benchmarks._gpu_step import run_step

        return run_step
    if name == "compile":
        from benchmarks._gpu_step import run_compile

        return run_compile
    if name in ("recipes", "vit"):
        from benchmarks import _gpu_recipes

        return {"recipes": _gpu_recipes.run_recipes, "vit": _gpu_recipes.run_vit}[name]
    if name == "train":
        from benchmarks._gpu_train import run

        return run
    from benchmarks import _gpu_search

    return {"eval": _gpu_search.run_eval, "search": _gpu_search.run_search}[name]


class Tee:
    """Write to a stream and to a log file (the log comes back from the device machine)."""

    def __init__(self, stream, log) -> None:
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        self.log.write(text)
        self.log.flush()
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, help="folder for gpu_check.md / .json / .log (created)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds (<= 2 min)")
    ap.add_argument("--dry", action="store_true", help="tiny sizes on the CPU, every path but the CUDA-only ones")
    ap.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"RESULTS.md to update (default {RESULTS.relative_to(REPO)}; a dry run updates none unless given)",
    )
    ap.add_argument("--no-results", action="store_true", help="do not update any RESULTS.md")
    ap.add_argument(
        "--budget",
        type=float,
        default=None,
        help=f"global time budget in s (default: full {BUDGET['full']:.0f}, quick {BUDGET['quick']:.0f})",
    )
    ap.add_argument("--only", default=None, help=f"comma-separated sections of: {', '.join(CAPS)}")
    ap.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="each section in a child process with a time limit (default: on, off for --dry)",
    )
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (a fresh subfolder is made and removed)")
    ap.add_argument("--keep-work", action="store_true", help="keep the scratch subfolder")
    ap.add_argument("--compile-backend", default=None, help="torch.compile backend (default inductor; dry: eager)")
    ap.add_argument(
        "--ddp-procs",
        type=int,
        default=0,
        help="processes of the torchrun check (default: 2 if 2+ GPUs are visible, else skipped)",
    )
    ap.add_argument("--merge-section", type=Path, help="write this gpu_check.md into RESULTS.md and exit")
    ap.add_argument("--section", help=argparse.SUPPRESS)  # child process: run one section
    ap.add_argument("--rows-file", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    unknown = sorted(set(args.only.split(",")) - set(CAPS)) if args.only else []
    if unknown:
        ap.error(f"--only: unknown section(s) {', '.join(unknown)}; known: {', '.join(CAPS)}")
    return args


def _cell(v: Any) -> str:
    text = f"{v:.4g}" if isinstance(v, float) else str(v)
    return text.replace("|", "/").replace("\n", " ")


def table(rows: list[dict]) -> str:
    lines = ["| section | check | value | unit | status | note |", "|---|---|---:|---|---|---|"]
    lines += [
        f"| {r['section']} | {_cell(r['name'])} | {_cell(r['value'])} | {r['unit']} | {r['status']} | "
        f"{_cell(r['note'])} |"
        for r in rows
    ]
    return "\n".join(lines)


def render(state: dict) -> str:
    from benchmarks._common import commit

    rows, meta = state["rows"], state["sections"]
    failed = sorted({r["section"] for r in rows if r["status"] == "fail"})
    late = [m["name"] for m in meta if m["status"] == "skipped (budget)"]
    verdict = (
        "all checks passed"
        if not failed and not late
        else "; ".join(
            ([f"FAILED: {', '.join(failed)}"] if failed else [])
            + ([f"skipped for time: {', '.join(late)}"] if late else [])
        )
    )
    timing = ", ".join(f"{m['name']} {m['seconds']:.0f} s ({m['status']})" for m in meta)
    lines = [
        f"## {TITLE}",
        "",
        f"- command: `{state['command']}`",
        f"- date: {state['date']}; commit {commit()}; mode {state['mode']}; "
        f"{state['total_seconds']:.0f} s of a {state['budget']:.0f} s budget",
        *_gpu_env.header(state["env"]),
        f"- result: {verdict}",
        f"- sections: {timing}",
        "",
        table(rows),
        "",
        NOTES,
    ]
    return "\n".join(lines) + "\n"


def _inline(name: str, fn: Callable[[Rows], None]) -> list[dict]:
    """Run a section in this process; an exception becomes a failed row."""
    rows = Rows()
    try:
        fn(rows)
    except Exception as exc:  # noqa: BLE001 - report, go on with the next section
        traceback.print_exc()
        rows.add(fail_row(name, "section", exc))
    gc.collect()
    return list(rows)


def _projection(s: Settings, rows: Rows, prior: list[dict]) -> None:
    from benchmarks import _gpu_recipes, _gpu_step

    _gpu_step.run_projection(s, rows, prior)
    _gpu_recipes.run_projection(s, rows, prior)


def run_section(name: str, s: Settings, isolate: bool, timeout: float) -> list[dict]:
    if not isolate:
        return _inline(name, lambda rows: _runner(name)(s, rows))
    rows_file = s.work / f"rows-{name}.json"
    cmd = [python(), "-m", "benchmarks.gpu_check", "--section", name, "--rows-file", str(rows_file), *s.flags()]
    rc, tail = stream(cmd, timeout, lambda line: print(line, flush=True))
    import json

    rows = json.loads(rows_file.read_text()) if rows_file.is_file() else []
    if rc is None:
        rows.append(
            fail_row(
                name,
                "section",
                f"timed out after {timeout:.0f} s (its share of the budget); rows above were measured before",
            )
        )
    elif rc != 0 and not any(r["status"] == "fail" for r in rows):
        rows.append(fail_row(name, "section", f"child exited with {rc}: " + " | ".join(tail[-3:])[-300:]))
    return rows


def orchestrate(args: argparse.Namespace, argv: list[str]) -> int:
    import torch

    mode = "dry" if args.dry else ("quick" if args.quick else "full")
    if mode != "dry" and not torch.cuda.is_available():
        print(
            f"gpu_check: no CUDA device (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
            "use --dry to check the script on the CPU",
            file=sys.stderr,
        )
        return 2
    budget = args.budget or BUDGET[mode]
    isolate = (not args.dry) if args.isolate is None else args.isolate
    only = set(args.only.split(",")) if args.only else set(CAPS)
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vireid-gpu-check-", dir=args.work))
    s = Settings(
        dry=args.dry,
        quick=args.quick,
        work=work,
        ddp_procs=args.ddp_procs,
        compile_backend=args.compile_backend or ("eager" if args.dry else "inductor"),
    )
    threads, old_t0 = torch.get_num_threads(), os.environ.get(T0_ENV)
    os.environ[T0_ENV] = repr(time.time())
    if args.dry:
        torch.set_num_threads(1)  # tiny sizes: one thread is fastest, and kind to a shared CPU
    start = time.perf_counter()
    state: dict[str, Any] = {
        "command": "PYTHONPATH=src python3 -m benchmarks.gpu_check " + " ".join(argv),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode,
        "budget": budget,
        "rows": [],
        "sections": [],
        "total_seconds": 0.0,
    }
    say(
        f"gpu_check {mode}: budget {budget:.0f} s, sections {', '.join(n for n in CAPS if n in only)}, "
        f"{'isolated' if isolate else 'in-process'}, scratch {work}"
    )
    try:
        state["env"] = _gpu_env.collect(s.cuda)
        for name, caps in CAPS.items():
            if name not in only and name != "env":
                continue
            t0 = time.perf_counter()
            left = budget - (t0 - start)
            say(f"=== {name} ({left:.0f} s of the budget left)")
            if name == "env":
                rows = _inline(name, lambda r: _gpu_env.run(s, r, state["env"]))
            elif name == "projection":
                rows = _inline(name, lambda r: _projection(s, r, state["rows"]))
            elif left < MIN_START:
                rows = [skip_row(name, "section", f"not run: time budget ({budget:.0f} s) spent")]
            else:
                rows = run_section(name, s, isolate, min(caps[1] if args.quick else caps[0], left))
            status = (
                "skipped (budget)"
                if rows and rows[0]["value"] == "skipped" and rows[0]["name"] == "section"
                else "fail"
                if any(r["status"] == "fail" for r in rows)
                else "ok"
            )
            state["rows"] += list(rows)
            state["sections"].append({"name": name, "status": status, "seconds": time.perf_counter() - t0})
            state["total_seconds"] = time.perf_counter() - start
            _write(args, state, final=False)
    finally:
        torch.set_num_threads(threads)
        if old_t0 is None:
            os.environ.pop(T0_ENV, None)
        else:
            os.environ[T0_ENV] = old_t0
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    state["total_seconds"] = time.perf_counter() - start
    text = _write(args, state, final=True)
    print("\n" + text, flush=True)
    bad = [m for m in state["sections"] if m["status"] != "ok"]
    verdict = f"{len(bad)} section(s) not ok: {', '.join(m['name'] for m in bad)}" if bad else "all checks passed"
    say(f"done in {state['total_seconds']:.0f} s: {verdict}")
    return 1 if bad else 0


def _write(args: argparse.Namespace, state: dict, final: bool) -> str:
    text = render(state)
    if args.out is not None:
        from vireid.utils.io import atomic_write_text

        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "gpu_check.md", text)
        write_json(
            args.out / "gpu_check.json",
            {**state, "ok": all(m["status"] == "ok" for m in state["sections"]), "final": final},
        )
    results = None if args.no_results else (args.results or (None if args.dry else RESULTS))
    if final and results is not None:
        from benchmarks._common import write_section

        write_section(KEY, text, results)
        say(f"section {KEY!r} written into {results}")
    return text


def merge(args: argparse.Namespace) -> int:
    from benchmarks._common import write_section

    text = args.merge_section.read_text()
    if not text.startswith(f"## {TITLE}"):
        print(
            f"gpu_check: {args.merge_section}: not a gpu_check section (expected it to start with '## {TITLE}')",
            file=sys.stderr,
        )
        return 2
    target = args.results or RESULTS
    write_section(KEY, text, target)
    print(f"gpu_check: section {KEY!r} of {target} replaced by {args.merge_section}")
    return 0


def child(args: argparse.Namespace) -> int:
    s = Settings(
        dry=args.dry,
        quick=args.quick,
        work=args.work,
        ddp_procs=args.ddp_procs,
        compile_backend=args.compile_backend or "inductor",
    )
    rows = Rows(args.rows_file)
    if args.dry:
        import torch

        torch.set_num_threads(1)
    try:
        _runner(args.section)(s, rows)
        return 0
    except Exception as exc:  # noqa: BLE001 - the parent reads the rows file
        traceback.print_exc()
        rows.add(fail_row(args.section, "section", exc))
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.merge_section is not None:
        return merge(args)
    if args.section is not None:
        return child(args)
    if args.out is None:
        return orchestrate(args, argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "gpu_check.log", "a", encoding="utf-8") as log:
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = Tee(out, log), Tee(err, log)
        try:
            return orchestrate(args, argv)
        finally:
            sys.stdout, sys.stderr = out, err


if __name__ == "__main__":
    raise SystemExit(main())
