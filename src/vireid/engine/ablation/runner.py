"""Running an ablation: train and test every combination x seed, in order or in worker processes."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

from vireid.config import Config, apply_overrides
from vireid.engine.ablation.grid import combinations, overrides, slug, split_grid
from vireid.engine.ablation.report import REPORTED_SCORES, RunResult, plot, report_markdown, summarize
from vireid.engine.ablation.summary import label_rows, write_summary
from vireid.errors import ConfigError, OutputError, VireidError
from vireid.utils import outputs
from vireid.utils.io import atomic_write_json, atomic_write_text
from vireid.utils.jsonio import json_loads
from vireid.utils.paths import say


def _train_one(
    train_fn: Callable[..., Any],
    cfg: Config,
    run_dir: Path,
    threads: int | None,
    resume: bool = False,
    policy: outputs.Policy | None = None,
) -> tuple[dict[str, float], float, int]:
    """Train and test one run; (mean metrics, train seconds, parameters).  Picklable for workers,
    which get the output policy in force (``policy``).  Its error names the run folder.

    ``train_fn(cfg, run_dir, quiet=True[, resume=True])`` returns a
    :class:`vireid.engine.run.TrainResult`."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        with outputs.using(policy or outputs.current()):
            result = train_fn(cfg, run_dir, quiet=True, **({"resume": True} if resume else {}))
    except VireidError as exc:  # the one line names the run (runs fail in any order with --jobs)
        if str(run_dir) not in str(exc):
            exc.args = (f"{run_dir}: {exc}",)
        raise
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python 3.11+: the traceback names the run
            exc.add_note(f"(in the ablation's run {run_dir})")
        raise
    summary = result.summary
    params = sum(p.numel() for p in result.model.parameters())
    mean = summary["mean"]
    return (
        {m: float(mean[m]) for m in REPORTED_SCORES},
        float(summary.get("train_seconds", time.perf_counter() - t0)),
        params,
    )


REPORT_FILES = (
    ("results.json", outputs.ABLATION_RESULTS),
    ("ablation.md", outputs.ABLATION_REPORT),
    ("summary.json", outputs.ABLATION_SUMMARY),
    ("ablation.png", outputs.PICTURE),
)


def _config_key(cfg: Config) -> str:
    return json.dumps(asdict(cfg), sort_keys=True, default=str)


def _finished(
    out: Path, run_dir: Path, combo: dict[str, str], seed: int, cfg: Config
) -> tuple[dict[str, float], float, int] | None:
    """The recorded result of a finished run of ``cfg`` (its ``metrics.json`` written, its
    ``config.yaml`` the same settings up to :data:`~vireid.config.schema.RESULT_NEUTRAL` keys, its
    row in ``results.json``), else None: the run is then resumed (e.g. more epochs, another
    evaluation).  Settings a resume may not change are refused."""
    from vireid.config.schema import RESULT_NEUTRAL
    from vireid.engine.run import resume_diff, saved_config_diff

    if not (run_dir / "metrics.json").is_file() or not (run_dir / "config.yaml").is_file():
        return None
    if resume_diff(run_dir, cfg):
        raise ConfigError(
            f"{run_dir}/config.yaml: this run was trained with other settings than the grid "
            "now gives it; --resume continues the same grid (use another --out for a new one)"
        )
    if any(not k.startswith(RESULT_NEUTRAL) for k in saved_config_diff(run_dir, cfg)):
        return None
    try:
        recorded = json_loads((out / "results.json").read_bytes(), str(out / "results.json"))
    except (OSError, ValueError):  # JSONError is a ValueError: a bad record is not reused
        return None
    for r in recorded if isinstance(recorded, list) else []:
        if isinstance(r, dict) and r.get("combo") == combo and r.get("seed") == seed:
            return r["metrics"], r["train_seconds"], r["params"]
    return None


def reference_combos(base: Config, combos: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The combinations that form the reference cell: those whose config is the base config (in
    ``each`` mode, the base value of each axis), else the first combination."""
    key = _config_key(base)
    same = [c for c in combos if _config_key(apply_overrides(base, overrides(c))) == key]
    return same or list(combos[:1])


def run_ablation(
    base: Config,
    grid: dict[str, list[str]],
    out: str | Path,
    *,
    seeds: Sequence[int] = (0, 1),
    mode: str = "product",
    train_fn: Callable[..., Any] | None = None,
    jobs: int = 1,
    resume: bool = False,
    log: Callable[[str], None] = say,
) -> list[dict[str, Any]]:
    """Train and test every combination x seed; write results.json, ablation.md, summary.json and ablation.png.

    The grid may name its axes and values (``KEY:TITLE``, ``VALUE:LABEL``,
    :mod:`vireid.engine.ablation.grid`); the names go into the report only.

    The rows (:func:`vireid.engine.ablation.report.summarize`) compare every cell with the
    reference cell (:func:`reference_combos`), paired by seed.

    A combination whose resolved config equals an earlier one (in ``each`` mode, the base
    value of every axis) is trained once and its results reused.  ``jobs > 1`` trains that
    many runs at once in worker processes (one compute thread each; ``train_fn`` must then
    be a module-level function); an interrupt (SIGINT, SIGTERM) or a run's error stops them all
    (:mod:`vireid.utils.workers`).  A run's error names its run folder.

    An ``out`` that already holds runs of an ablation is refused unless ``resume``: then a
    finished run (its ``metrics.json`` and its row in ``results.json``) is reused, provided its
    ``config.yaml`` has the settings the grid gives it, and an unfinished one continues from its
    last checkpoint (:func:`vireid.engine.run.train` with ``resume=True``, bitwise as a run that
    was not interrupted).
    """
    from vireid.engine.lock import LOCK_FILE, RunLock, RunLockedError
    from vireid.engine.undo import FolderUndo

    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    check_seeds(seeds)
    out = Path(out)
    with outputs.reading({"data.root": base.data.root}, datasets=[base.data.root]):
        outputs.check_folder(out, outputs.ABLATION_FOLDER)  # before anything is written
        outputs.check_files((out / name, kind) for name, kind in REPORT_FILES)
    # failing before any run left something (a grid key, the dataset), the ablation leaves nothing:
    # its lock and the folders it made go (a run that failed before training removed its own files)
    undo = FolderUndo(out, lambda rel: rel == LOCK_FILE)
    locked = False
    try:
        with RunLock(out, log=log):  # one ablation per folder (each run folder is locked by its training too)
            locked = True
            return _run_ablation(
                base, grid, out, seeds=seeds, mode=mode, train_fn=train_fn, jobs=jobs, resume=resume, log=log
            )
    except BaseException as exc:
        if locked or not isinstance(exc, RunLockedError):  # the folder of another ablation stays as it is
            undo.undo()
        raise


def check_seeds(seeds: Sequence[int]) -> None:
    """Refuse an empty ``--seeds`` or a seed given twice (it would train the same run twice and
    count it as two samples)."""
    if not len(seeds):
        raise ConfigError("--seeds: expected one seed or more")
    twice = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if twice:
        which = f"{'seed' if len(twice) == 1 else 'seeds'} {', '.join(map(str, twice))}"
        given = " ".join(map(str, seeds))
        raise ConfigError(f"--seeds: {which} given twice ({given}); each seed is one run, list each once")


def _run_ablation(
    base: Config,
    grid: dict[str, list[str]],
    out: Path,
    *,
    seeds: Sequence[int],
    mode: str,
    train_fn: Callable[..., Any] | None,
    jobs: int,
    resume: bool,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    grid, labels = split_grid(grid)
    real_training = train_fn is None
    if train_fn is None:
        from vireid.engine.run import train as train_fn
    combos = combinations(grid, mode)
    configs = [
        (c, s, apply_overrides(base, overrides(c) + [f"train.seed={s}"])) for c in combos for s in seeds
    ]  # validate every override before training anything
    first_of: dict[str, int] = {}
    source = []  # index of the run whose results each config reuses (itself when first)
    for i, (_, _, cfg) in enumerate(configs):
        source.append(first_of.setdefault(_config_key(cfg), i))
    reference = reference_combos(base, combos)
    todo = sorted(set(source))
    done: dict[int, tuple[dict[str, float], float, int]] = {}

    def record() -> list[RunResult]:
        results = []
        for (combo, seed, _), src in zip(configs, source, strict=True):
            got = done.get(src)
            if got is not None:
                results.append(RunResult(combo, seed, *got, reference=combo in reference))
        atomic_write_json(out / "results.json", [r.__dict__ for r in results], kind=outputs.ABLATION_RESULTS)
        return results

    def run_dir(i: int) -> Path:
        combo, seed, _ = configs[i]
        return out / "runs" / slug(combo) / f"seed{seed}"

    started = [i for i in todo if run_dir(i).is_dir() and any(run_dir(i).iterdir())]
    if started and not resume:
        raise ConfigError(
            f"{run_dir(started[0])}: already holds a run of an earlier ablation in {out}; pass "
            "--resume to reuse its finished runs and continue the others, or --out for a new one"
        )
    if resume:
        for i in started:
            got = _finished(out, run_dir(i), configs[i][0], configs[i][1], configs[i][2])
            if got is not None:
                done[i] = got
                log(f"reused: {run_dir(i)} (finished)")
        todo = [i for i in todo if i not in done]

    if real_training:  # every run folder, before any training
        from vireid.engine.run import check_run_dir

        for i in todo:  # a resumed run's checkpoint pointer is read first (a corrupt one named as such)
            check_run_dir(run_dir(i), configs[i][2], resume=i in started)
    if real_training and jobs > 1:  # parallel runs must not generate the same synthetic dataset at once
        from vireid.config.build import build_dataset

        for data in {
            json.dumps(asdict(configs[i][2].data), sort_keys=True, default=str): configs[i][2].data for i in todo
        }.values():
            if data.synth:
                build_dataset(data)

    started_runs: list[int] = []

    def announce(i: int) -> None:
        started_runs.append(i)
        log(f"[{len(started_runs)}/{len(todo)}] {configs[i][0] or 'base'} seed {configs[i][1]} -> {run_dir(i)}")

    if jobs == 1:
        for i in todo:
            announce(i)
            done[i] = _train_one(train_fn, configs[i][2], run_dir(i), None, i in started, outputs.current())
            record()
    else:  # an interrupt or a run's error stops every worker (vireid.utils.workers); its run stays resumable
        from vireid.utils.workers import run_in_workers

        def finished(n: int, got: tuple[dict[str, float], float, int]) -> None:
            done[todo[n]] = got
            log(f"done: {run_dir(todo[n])}")
            record()

        run_in_workers(
            [(_train_one, (train_fn, configs[i][2], run_dir(i), 1, i in started, outputs.current())) for i in todo],
            jobs,
            on_start=lambda n: announce(todo[n]),
            on_result=finished,
            name=lambda n: str(run_dir(todo[n])),
        )
    results = record()
    rows = label_rows(summarize(results), labels)
    report = outputs.text_header(outputs.ABLATION_REPORT, "<!--") + report_markdown(rows) + "\n"
    atomic_write_text(out / "ablation.md", report, kind=outputs.ABLATION_REPORT)
    write_summary(out / "summary.json", rows, mode=mode, seeds=list(seeds))
    try:
        plot(rows, out / "ablation.png")
    except (ConfigError, OutputError):
        raise
    except Exception as exc:  # matplotlib missing: the table still stands
        log(f"no plot: {exc}")
    return rows
