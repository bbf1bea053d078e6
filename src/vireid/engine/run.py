"""Wiring a config into a training run (used by ``vireid train`` and ``vireid demo``).

Run folder::

    RUN/config.yaml          the resolved config
    RUN/metrics.jsonl        training losses, LR, images/s, periodic evaluations
    RUN/checkpoints/         last (weights + state) and best (weights) checkpoints
    RUN/metrics.json         final full-protocol evaluation of the best checkpoint
    RUN/cmc.png              its CMC curves, and RUN/curves.png: the training curves
                             (losses, evaluations, LR; :mod:`vireid.viz.run`, [viz] extra)
    RUN/tb/                  TensorBoard scalars (if tensorboard is installed)
    RUN/.lock                held for the life of the run (:mod:`vireid.engine.lock`): a second
                             writer, or a ``--resume`` of a run still going, is refused

A run folder the output policy forbids (:mod:`vireid.utils.outputs`: inside a dataset, one of
the run's inputs -- ``data.root``, ``train.init_from`` --, or holding a file the run writes that
vireid did not write, unless ``--overwrite``) is refused before anything is written; the saved
``config.yaml`` holds every path absolute (:mod:`vireid.config.paths`);
``train.init_from`` starts the model from a vireid checkpoint
(:func:`vireid.models.weights.init_from_checkpoint`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from vireid.config import Config, build, config_diff, load_config, save_config, to_dict
from vireid.config.schema import resume_may_change
from vireid.core import distributed as dist_utils
from vireid.data.loaders import TrainBatches
from vireid.engine.checkpoint import (
    STATE,
    CheckpointManager,
    load_weights_into,
    read_weights,
    restore_training_state,
    unwrap_model,
)
from vireid.engine.context import RunContext, cpu_threads, evaluate_model, load_dataset, make_context, seed_everything
from vireid.engine.evaluator import SplitEvaluation, tables
from vireid.engine.hooks import CheckpointHook, EvalHook, LoggingHook, StopAtStep
from vireid.engine.logging import MetricsLogger
from vireid.engine.sync_bn import convert_sync_batchnorm
from vireid.engine.trainer import Trainer
from vireid.errors import ConfigError
from vireid.optim.schedules import LRScheduler
from vireid.utils.interrupt import reliable_interrupts
from vireid.utils.io import atomic_write_json


def checkpoint_metadata(model: nn.Module, cfg: Config) -> dict[str, Any]:
    """Checkpoint metadata: what rebuilds the model (vireid's format) and the run's resolved config."""
    from vireid.models.weights import model_metadata

    return {**model_metadata(unwrap_model(model)), "config": to_dict(cfg)}


@dataclass
class TrainResult:
    """What :func:`train` returns: ``summary`` is the ``metrics.json`` content (plain data); the
    trained model (best checkpoint loaded), the dataset reader and the final evaluation come with it."""

    summary: dict[str, Any]
    model: nn.Module
    dataset: Any
    evaluation: list[SplitEvaluation]


def run_files() -> tuple[tuple[str, Any], ...]:
    """The files a run writes in its folder, with their kinds (:mod:`vireid.utils.outputs`)."""
    from vireid.engine.lock import LOCK_FILE
    from vireid.utils import outputs as o

    return (
        ("config.yaml", o.RUN_CONFIG),
        ("metrics.jsonl", o.TRAINING_LOG),
        ("metrics.json", o.RUN_METRICS),
        ("checkpoints/last.json", o.CHECKPOINT_POINTER),
        ("checkpoints/best.safetensors", o.RUN_CHECKPOINT),
        (LOCK_FILE, o.RUN_LOCK),
        ("cmc.png", o.PICTURE),  # vireid.viz.run.write_run_pictures, when the run ends
        ("curves.png", o.PICTURE),
    )


def check_run_dir(run_dir: Path, cfg: Config, *, resume: bool = False) -> None:
    """Refuse a run folder the output policy forbids (not a folder, inside a dataset, one of the
    run's inputs) or where a file the run writes exists and is not vireid's of the same kind --
    before anything is written.  With ``resume`` the run's checkpoint pointer is an input, read
    first: a corrupt ``last.json`` is named as such, not as a file vireid did not write."""
    from vireid.core.checkpoints import POINTER, last_dir
    from vireid.utils import outputs

    if resume:
        last_dir(run_dir / "checkpoints")  # CheckpointError: unreadable, not vireid's, incomplete target
    inputs = {
        "data.root": cfg.data.root,
        "train.init_from": cfg.train.init_from,
        "model.pretrained": build.pretrained_source(cfg.model),
    }
    option = "run folder (--out)"
    # a resume of a run with its config never writes config.yaml: it may be the --config read
    kept = {"config.yaml"} if resume and (run_dir / "checkpoints" / POINTER).is_file() else set()
    files = [(run_dir / name, kind) for name, kind in run_files() if name not in kept]
    with outputs.reading(datasets=[cfg.data.root]):
        outputs.check_folder(run_dir, outputs.RUN_FOLDER, option=option, inputs=inputs)
        outputs.check_files(files, option=option, inputs=inputs)


def saved_config(run_dir: Path) -> Config:
    """The config a run in ``run_dir`` saved, its paths absolute (relative ones of older runs
    resolved against the file, :func:`vireid.config.paths.stored_paths`)."""
    from vireid.config.paths import stored_paths

    return stored_paths(load_config(run_dir / "config.yaml"), run_dir / "config.yaml", required=())


def saved_config_diff(run_dir: Path, cfg: Config) -> dict[str, tuple[Any, Any]]:
    """``{key: (saved, cfg)}`` for every setting where ``cfg`` (its paths made absolute) differs
    from the config the run in ``run_dir`` saved."""
    from vireid.config.paths import absolute_paths

    return config_diff(saved_config(run_dir), absolute_paths(cfg))


def resume_diff(run_dir: Path, cfg: Config) -> dict[str, tuple[Any, Any]]:
    """The settings that differ between the run in ``run_dir`` (its ``config.yaml``) and ``cfg``,
    less those a resume may change (display, logging, loading speed, checkpoint frequency, and a
    larger ``train.epochs``, which extends the run); empty when ``cfg`` continues that run exactly."""
    diff = saved_config_diff(run_dir, cfg)
    return {k: v for k, v in diff.items() if not resume_may_change(k) and not (k == "train.epochs" and v[1] >= v[0])}


def prepare_run_dir(run_dir: Path, cfg: Config, resume: bool, ctx: RunContext) -> None:
    """Refuse (:func:`refuse_run_dir`), then write the resolved config for a new run.  A resume never
    rewrites ``config.yaml``: it keeps the settings the run started with (an extension's
    ``train.epochs`` is in its checkpoints' metadata)."""
    resuming = refuse_run_dir(run_dir, cfg, resume)
    if ctx.dist.is_main and not resuming:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")


def refuse_run_dir(run_dir: Path, cfg: Config, resume: bool) -> bool:
    """Refuse a finished run without ``resume`` or a resume with settings that change its results
    (writes nothing); whether this is a resume of a run with its config."""
    check_run_dir(run_dir, cfg, resume=resume)
    has_last = (run_dir / "checkpoints" / "last.json").is_file()
    if has_last and not resume:
        raise ConfigError(
            f"{run_dir}: already holds a training run; pass --resume to continue it or --out to start a new one"
        )
    resuming = resume and has_last and (run_dir / "config.yaml").is_file()
    if resuming:
        diff = resume_diff(run_dir, cfg)
        if diff:
            shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in list(diff.items())[:6])
            raise ConfigError(
                f"{run_dir}/config.yaml: --resume with settings that change the run's results ({shown}); "
                "an exact resume needs the same settings (it may extend train.epochs, and change "
                "logging, loader workers and checkpoint frequency)"
            )
    return resuming


def train(
    cfg: Config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    device: str | None = None,
    quiet: bool = False,
    stop_at_step: int | None = None,
) -> TrainResult:
    """Train with ``cfg`` into ``run_dir``; the final summary (``metrics.json``), model and evaluation.

    The run stores its paths absolute (:func:`vireid.config.paths.absolute_paths`: ``data.root``
    and every other path, relative to the current folder), so it is found from any folder.  Ctrl-C
    stops it (:class:`KeyboardInterrupt`; the last checkpoint is intact), also when the interrupt
    lands where Python would drop it (:mod:`vireid.utils.interrupt`)."""
    from vireid.config.paths import absolute_paths
    from vireid.utils import outputs

    cfg = absolute_paths(cfg)
    with cpu_threads(cfg.train.threads), outputs.reading(datasets=[cfg.data.root]), reliable_interrupts():
        return _train(cfg, Path(run_dir), resume=resume, device=device, quiet=quiet, stop_at_step=stop_at_step)


def fetch_pretrained(cfg: Config, ctx: RunContext) -> Path | None:
    """The file of ``model.pretrained`` (downloaded once, rank 0 first), before anything is written:
    without network or with a bad file the run stops here with a one-line error."""
    return dist_utils.main_rank_first(lambda: build.resolve_pretrained(cfg.model), ctx.dist.is_main)


def _train(
    cfg: Config, run_dir: Path, *, resume: bool, device: str | None, quiet: bool, stop_at_step: int | None
) -> TrainResult:
    from vireid.engine.lock import LOCK_FILE, RunLock, RunLockedError
    from vireid.engine.undo import FolderUndo

    check_run_dir(run_dir, cfg, resume=resume)
    ctx = make_context(cfg, device, quiet)
    build.selection_eval(cfg)  # a bad eval.select fails now, not at the first evaluation
    build.check_world_size(cfg, ctx.dist.world_size)
    pretrained = fetch_pretrained(cfg, ctx)  # before anything is written
    refuse_run_dir(run_dir, cfg, resume)  # before a dataset is generated
    t0 = time.perf_counter()
    dataset = load_dataset(cfg, ctx)  # read and checked before the run folder is made
    # a failure before training starts (train.init_from, the model, a resume's checkpoint) leaves
    # nothing the run made: its lock, config and TensorBoard files, the folders made for them
    undo = FolderUndo(run_dir, lambda rel: rel in (LOCK_FILE, "config.yaml") or rel.startswith("tb/"))
    locked = False
    try:
        with contextlib.ExitStack() as stack:
            if ctx.dist.is_main:  # one writer per run folder, for the whole run
                stack.enter_context(RunLock(run_dir, log=ctx.log))
            locked = True
            prepare_run_dir(run_dir, cfg, resume, ctx)
            return _train_locked(
                cfg,
                run_dir,
                ctx,
                dataset=dataset,
                t0=t0,
                pretrained=pretrained,
                resume=resume,
                quiet=quiet,
                stop_at_step=stop_at_step,
                started=undo.disarm,
            )
    except BaseException as exc:
        if ctx.dist.is_main and (locked or not isinstance(exc, RunLockedError)):  # another run's folder stays
            undo.undo()
        raise


def _train_locked(
    cfg: Config,
    run_dir: Path,
    ctx: RunContext,
    *,
    dataset,
    t0: float,
    pretrained: Path | None,
    resume: bool,
    quiet: bool,
    stop_at_step: int | None,
    started: Callable[[], None] = lambda: None,
) -> TrainResult:
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(cfg.train.seed)

    from vireid.data.loaders import build_train_loader
    from vireid.data.transforms import TrainTransform

    transform = TrainTransform(**build.train_transform_kwargs(cfg.data))
    loader = build_train_loader(
        dataset.train, transform=transform, **build.train_loader_kwargs(cfg, ctx.dist.rank, ctx.dist.world_size)
    )
    data = TrainBatches(loader, cfg.train.seed)
    num_classes = loader.dataset.num_classes
    model = build.build_model(cfg.model, num_classes, pretrained=pretrained)
    ckpts = CheckpointManager(run_dir / "checkpoints")
    if cfg.train.init_from and not (resume and ckpts.last_dir() is not None):
        from vireid.core.checkpoints import resolve_checkpoint
        from vireid.models.weights import init_from_checkpoint

        ctx.log(init_from_checkpoint(model, resolve_checkpoint(cfg.train.init_from)))
    model = model.to(ctx.device)
    if cfg.train.sync_bn and ctx.dist.world_size > 1:
        model = convert_sync_batchnorm(model, ctx.device)
    seed_everything(cfg.train.seed + ctx.dist.rank)  # per-rank dropout streams
    generators = model.rng_generators() if hasattr(model, "rng_generators") else {}
    for g in generators.values():  # the model's own random streams, distinct per rank
        g.manual_seed(g.initial_seed() + 1_000_003 * ctx.dist.rank)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    meta = checkpoint_metadata(model, cfg)
    net = dist_utils.wrap_ddp(model, ctx.device, ctx.dist)
    if cfg.train.compile:
        net = torch.compile(net)
    # a per-rank batch is W times the authors' batch: linear LR scaling
    lr_scale = ctx.dist.world_size if cfg.data.per_rank_batch else 1
    optimizer = build.build_optimizer(cfg.optim, model, lr_scale=lr_scale)
    scheduler = LRScheduler(optimizer, build.build_schedule(cfg), data.steps_per_epoch)
    logger = MetricsLogger(run_dir, tensorboard=cfg.train.tensorboard, enabled=ctx.dist.is_main)

    def periodic_eval() -> dict[str, float]:
        _, summary = evaluate_model(net, dataset, cfg, ctx, final=False)
        return summary["mean"]

    hooks = [
        LoggingHook(logger, cfg.train.log_every, cfg.train.progress and not quiet, ctx.dist.is_main),
        EvalHook(
            periodic_eval,
            every=cfg.eval.every,
            start=cfg.eval.start,
            metric=cfg.eval.metric,
            checkpoints=ckpts,
            logger=logger,
            metadata=lambda: meta,
            is_main=ctx.dist.is_main,
            print_fn=ctx.log,
        ),
        CheckpointHook(ckpts, every=cfg.train.checkpoint_every, metadata=lambda: meta, is_main=ctx.dist.is_main),
    ]
    if stop_at_step is not None:
        hooks.append(StopAtStep(stop_at_step))
    objective = build.build_objective(cfg.loss, model, global_batch=not cfg.data.per_rank_batch)
    trainer = Trainer(
        net,
        objective,
        optimizer,
        scheduler,
        data,
        epochs=cfg.train.epochs,
        device=ctx.device,
        precision=ctx.precision,
        grad_clip=cfg.optim.grad_clip,
        channels_last=cfg.train.channels_last,
        dist_info=ctx.dist,
        generators=generators,
        hooks=hooks,
    )
    if resume:
        last = ckpts.load_last()
        if last is None:
            ctx.log(f"no checkpoint in {run_dir / 'checkpoints'}; starting from scratch")
        else:
            tensors, _, state = last
            load_weights_into(model, tensors, source=str(ckpts.last_dir()))
            restore_training_state(trainer, state, ckpts.last_dir() / STATE)
            ctx.log(f"resumed from {ckpts.last_dir()} (epoch {trainer.epoch + 1}, step {trainer.global_step})")
    ctx.log(
        f"training {type(model).__name__} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params) "
        f"on {num_classes} identities, {data.steps_per_epoch} steps/epoch x {cfg.train.epochs} epochs, "
        f"device {ctx.device}, precision {ctx.precision.name}, world size {ctx.dist.world_size}, "
        f"initial weights {pretrained or 'random'}"
    )
    started()  # from here on, a failure leaves the run folder as it is (resumable, or its log)
    trainer.train()
    train_seconds = time.perf_counter() - t0

    # final: the best checkpoint on the full protocol
    best = run_dir / "checkpoints" / "best.safetensors"
    dist_utils.barrier()
    if best.is_file():
        load_weights_into(model, read_weights(best)[0], source=str(best))
        used = best
    else:  # no evaluation scored above 0 (the authors' rule saves none then): the last weights
        used = ckpts.last_dir() or best
        ctx.log(
            f"no evaluation scored {cfg.eval.metric} above 0, so there is no best checkpoint; "
            f"the final evaluation uses the last weights ({used})"
        )
    results, summary = evaluate_model(model, dataset, cfg, ctx, final=True)
    summary = {**summary, "checkpoint": str(used), "train_seconds": train_seconds}
    if ctx.dist.is_main:
        from vireid.utils.outputs import RUN_METRICS

        atomic_write_json(run_dir / "metrics.json", summary, kind=RUN_METRICS)
        for line in tables(results).splitlines():  # a line each: ctx.log escapes a line break in its text
            ctx.log(line)
        from vireid.viz.run import write_run_pictures

        write_run_pictures(run_dir, metrics=summary, log_file=run_dir / "metrics.jsonl", log=ctx.log)
    return TrainResult(summary, model, dataset, results)
