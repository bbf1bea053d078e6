"""The demo (``vireid demo``, ``make demo``): a small DEEN trained on CPU on the synthetic benchmark.

1. Generate the synthetic SYSU-MM01-layout dataset (cached in ``data.root``; see
   :func:`vireid.data.synth.ensure_dataset`).
2. Evaluate the untrained model with the full SYSU-MM01 protocol (all-search,
   single-shot, infrared -> visible, 10 trials).
3. Train it with the config's recipe (the shipped ``synthetic`` config by default), evaluate
   the best checkpoint with the full protocol, and compare the two.
4. The run folder (locked while the demo runs; replaced only when a previous demo wrote it and
   holds nothing else: only the files that demo wrote are removed, :func:`demo_files`) holds
   ``demo.json`` (listing the demo's files), ``config.yaml``, ``checkpoints/``, ``metrics.json`` (trained),
   ``metrics_untrained.json``, ``metrics.jsonl``, ``ranking.png`` (queries of the first
   trial and their top-10 gallery matches under the protocol's rules, correct ones in green),
   and the pictures every training run gets (:mod:`vireid.viz.run`): ``cmc.png``, the CMC curve
   of the trained model, and ``curves.png``, its training curves.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vireid.config import Config
from vireid.data.synth import SynthSummary, ensure_dataset
from vireid.engine.evaluator import SplitEvaluation
from vireid.engine.run import TrainResult
from vireid.errors import ConfigError
from vireid.utils.paths import say

DEMO_MARKER_FILE = "demo.json"  # marks a run folder the demo wrote (and may replace), listing its files
METRIC_COLUMNS = (
    ("rank1", "Rank-1"),
    ("rank5", "Rank-5"),
    ("rank10", "Rank-10"),
    ("rank20", "Rank-20"),
    ("mAP", "mAP"),
    ("mINP", "mINP"),
)


@dataclass
class DemoResult:
    """What :func:`run_demo` returns."""

    untrained: dict  # metrics summary of the untrained model (metrics_untrained.json)
    trained: TrainResult  # the training run (its summary is metrics.json)
    picture: Path | None  # ranking.png, None without matplotlib
    seconds: float  # the whole demo
    out: Path


def prepare_dataset(
    root: str, layout: str = "sysu", *, workers: int = 2, log: Callable[[str], None] = say, **params
) -> SynthSummary:
    """The demo's synthetic dataset at ``root``, generated only when missing or stale."""
    summary = ensure_dataset(root, layout, workers=workers, **params)
    if summary.cached:
        log(f"using cached synthetic dataset {summary.root} ({summary.num_images} images)")
    else:
        log(
            f"generated synthetic dataset {summary.root}: {summary.num_images} images of {summary.num_ids} ids "
            f"in {summary.seconds:.1f} s ({summary.images_per_second:.0f} images/s)"
        )
    return summary


def comparison_table(rows: dict[str, dict[str, float]]) -> str:
    """Models (rows) x metrics in percent, as aligned plain text."""
    head = ["model"] + [label for _, label in METRIC_COLUMNS]
    body = [[name] + [f"{100 * m[k]:.2f}" for k, _ in METRIC_COLUMNS] for name, m in rows.items()]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    return "\n".join([fmt(head)] + [fmt(r) for r in body])


def ranking_picture(
    evaluation: SplitEvaluation, out: Path, num_queries: int = 6, label: str = "trained model"
) -> Path | None:
    """Queries (evenly spread) of one evaluated split with their top-10 gallery matches, ranked
    by the distances the metrics scored under the split's protocol; ``None`` without matplotlib."""
    try:
        from vireid.viz.ranks import order_text, protocol_rank_figure
    except ImportError:  # matplotlib missing
        return None
    s = evaluation.split
    return protocol_rank_figure(
        evaluation.distmat.numpy(),
        s.query,
        s.gallery,
        out,
        protocol=s.protocol,
        topk=10,
        num_queries=num_queries,
        metric="inner",
        title=f"{label}, trial {s.trial}: {s.direction.replace('_', ' ')}, protocol "
        f"{s.protocol}, {order_text('inner')}",
    )


def run_demo(cfg: Config, out: str | Path, *, workers: int = 2, log: Callable[[str], None] = say) -> DemoResult:
    """Steps 1-4 of the module docstring; ``out`` is replaced when it holds a previous run."""
    from vireid.engine.context import cpu_threads

    start = time.perf_counter()
    if not cfg.data.synth:
        raise ConfigError("data.synth: the demo needs a synthetic dataset")
    with cpu_threads(cfg.train.threads):
        return _run(cfg, Path(out), workers, log, start)


def _run(cfg: Config, out: Path, workers: int, log: Callable[[str], None], start: float) -> DemoResult:
    from vireid.engine.lock import RunLock
    from vireid.utils import outputs

    # data.root is a dataset (never written into) and an input of --out, not of the synthetic
    # generator, which replaces it with data.synth.force=true as the output policy allows
    with outputs.reading(datasets=[cfg.data.root]):
        outputs.check_folder(  # before anything is written
            out, outputs.DEMO_FOLDER, owned=demo_files, inputs={"data.root": cfg.data.root}
        )
        # the dataset before the run folder: a refused one leaves no folder (its .lock would make
        # the next demo's --out "not a demo run folder")
        prepare_dataset(cfg.data.root, cfg.data.dataset, workers=workers, log=log, **cfg.data.synth)
        with RunLock(out, log=log):  # held across the clean-up and the training run
            clear_demo_folder(out)
            write_marker(out, complete=False)
            result = _run_locked(cfg, out, log, start)
            write_marker(out, complete=True)
            return result


def write_marker(out: Path, *, complete: bool) -> None:
    """``demo.json``: marks the folder as the demo's and lists every file the demo wrote in it."""
    from vireid.engine.lock import LOCK_FILE
    from vireid.utils.io import atomic_write_json
    from vireid.utils.outputs import DEMO_MARKER

    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != LOCK_FILE)
    atomic_write_json(
        out / DEMO_MARKER_FILE, {"made_by": "vireid demo", "complete": complete, "files": files}, kind=DEMO_MARKER
    )


def demo_files(out: Path) -> set[str] | None:
    """What an earlier demo wrote in ``out`` (None when ``out`` is not a demo's run folder, marked by
    ``demo.json``): every file carrying vireid's mark (:func:`vireid.utils.marks.written_kind`: a
    file the user replaced has lost it), and the run's lock, temporary and TensorBoard files."""
    from vireid.engine.lock import LOCK_FILE
    from vireid.utils.outputs import is_temporary, written_kind

    if not (written_kind(out / DEMO_MARKER_FILE) == "demo-marker" or (out / "metrics_untrained.json").is_file()):
        return None
    owned = {DEMO_MARKER_FILE, LOCK_FILE}
    for folder, _, names in os.walk(out):  # links to folders are not followed: never a file elsewhere
        for name in names:
            p = Path(folder) / name
            rel = p.relative_to(out)
            if p.is_symlink():
                continue
            if written_kind(p) is not None or is_temporary(name) or (rel.parts[0] == "tb" and "tfevents" in name):
                owned.add(rel.as_posix())
    return owned


def clear_demo_folder(out: Path) -> None:
    """Empty ``out`` of what an earlier demo wrote (:func:`demo_files`) for a new demo run; call
    it holding the run lock (the lock file stays)."""
    from vireid.engine.lock import LOCK_FILE
    from vireid.utils.outputs import remove_owned

    owned = demo_files(out) if out.is_dir() else None
    if owned:
        remove_owned(out, owned - {LOCK_FILE}, keep_root=True)


def _run_locked(cfg: Config, out: Path, log: Callable[[str], None], start: float) -> DemoResult:
    from vireid.config import build
    from vireid.engine.context import evaluate_model, make_context, seed_everything
    from vireid.engine.run import train
    from vireid.utils.io import atomic_write_json
    from vireid.utils.outputs import UNTRAINED_METRICS

    # untrained model: the same initialisation the training run starts from
    ctx = make_context(cfg, None, quiet=True)
    dataset = build.build_dataset(cfg.data)
    num_classes = len({r.pid for r in dataset.train})
    seed_everything(cfg.train.seed)
    untrained = build.build_model(cfg.model, num_classes)
    t0 = time.perf_counter()
    _, before = evaluate_model(untrained, dataset, cfg, ctx, final=True)
    trials = sum(d["num_trials"] for d in before["directions"].values())
    log(
        f"untrained model: Rank-1 {100 * before['mean']['rank1']:.2f}% over {trials} trials "
        f"[{time.perf_counter() - t0:.1f} s]"
    )

    trained = train(cfg, out)
    picture = ranking_picture(trained.evaluation[0], out / "ranking.png")
    atomic_write_json(out / "metrics_untrained.json", before, kind=UNTRAINED_METRICS)
    return DemoResult(before, trained, picture, time.perf_counter() - start, out)
