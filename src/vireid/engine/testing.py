"""Testing a checkpoint on its dataset's full protocol (``vireid test``).

The model is rebuilt from the checkpoint's own metadata (architecture and constructor
arguments, :func:`vireid.inference.loading.read_checkpoint`), as every other command does;
the config supplies the data root, the protocol options and the evaluation settings.  By
default both come from a training run folder (:func:`test_inputs`): its ``config.yaml`` and
its best checkpoint.

Written into the output folder (default ``RUN/test/``, so the training run's own
``metrics.json`` is never touched)::

    OUT/metrics.json                  the metrics (:mod:`vireid.engine.evaluator` layout), the
                                      checkpoint, whether re-ranking was used and the config
                                      the evaluation ran with (``config``)
    OUT/cmc.png                       the CMC curves of every direction ([viz] extra)
    OUT/ranks.png, tsne.png,          with ``viz``: pictures of the first evaluated split; the
        distances.png                 rank list shows the ranking the metrics scored
    OUT/features_query.safetensors,   with ``viz``: that split's descriptors (features files
        features_gallery.safetensors  recording the protocol and distance, so
                                      ``vireid visualize ranks`` redraws the same rank lists)
    OUT/features/DIRECTION/           with ``save_features``: every split's descriptors --
        query.safetensors,            ``vireid evaluate --query .../query.safetensors --gallery
        gallery_trialT.safetensors    .../gallery_trial*.safetensors --metric inner`` gives the
                                      metrics again
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vireid.config import Config
from vireid.engine.evaluator import SplitEvaluation

FEATURES_FILES = ("features_query.safetensors", "features_gallery.safetensors")
TEST_FOLDER = "test"  # the default output folder, inside the run folder


@dataclass
class TestResult:
    """What :func:`run_test` returns (``written`` is empty on non-main DDP ranks)."""

    summary: dict[str, Any]  # the metrics.json content
    evaluations: list[SplitEvaluation]
    out: Path  # the output folder
    written: dict[str, Path] = field(default_factory=dict)  # name -> file written
    is_main: bool = True
    warnings: list[str] = field(default_factory=list)  # settings that differ from the checkpoint's run

    __test__ = False  # not a pytest test class


#: settings that change a model's descriptors or its dataset: the config given to ``vireid test``
#: should agree with the run that trained the checkpoint
TEST_TIME_KEYS = ("data.dataset", "data.height", "data.width", "eval.flip", "eval.combine")


def differences_from_run(cfg: Config, run_config: dict | None) -> list[str]:
    """Where ``cfg`` differs from the checkpoint's own run config in :data:`TEST_TIME_KEYS`."""
    from vireid.config import to_dict

    if not isinstance(run_config, dict):
        return []
    mine = to_dict(cfg)
    out = []
    for key in TEST_TIME_KEYS:
        section, name = key.split(".")
        theirs = (run_config.get(section) or {}).get(name)
        if theirs is not None and mine[section][name] != theirs:
            out.append(f"{key} is {mine[section][name]!r} here but {theirs!r} in the checkpoint's training run")
    return out


def default_out(checkpoint: Path) -> Path:
    """The run folder of a checkpoint (the folder above its ``checkpoints/``), else its folder."""
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    for p in (folder, *folder.parents):
        if p.name == "checkpoints":
            return p.parent
    return folder


def test_inputs(
    run: str | Path | None = None,
    config: str | Path | None = None,
    checkpoint: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> tuple[Config, Path]:
    """The config and checkpoint ``vireid test`` uses.

    The checkpoint: ``checkpoint``, else the run folder's best (else last) checkpoint.  The
    config: ``config``, else the run folder's ``config.yaml``, else the run config the checkpoint
    carries; ``overrides`` apply to it.
    """
    from vireid.config import apply_overrides, from_dict, load_config
    from vireid.engine.checkpoint import resolve_checkpoint
    from vireid.errors import ConfigError
    from vireid.models.weights import read_weights

    if run is None and checkpoint is None:
        raise ConfigError("give --run RUN_DIR (a training run folder) or --checkpoint PATH")
    if run is not None:
        run = Path(run)
        if not run.is_dir():
            raise ConfigError(
                f"{run}: {'not a folder' if run.exists() else 'not found'}; --run takes a "
                "training run folder (it holds config.yaml and checkpoints/)"
            )
        if config is None and not (run / "config.yaml").is_file():
            raise ConfigError(f"{run}: holds no config.yaml; is it a training run folder? (or pass --config)")
    ckpt = Path(checkpoint) if checkpoint is not None else resolve_checkpoint(run)
    if config is None and run is not None:
        config = run / "config.yaml"
    if config is not None:
        return load_config(config, overrides), ckpt
    weights = resolve_checkpoint(ckpt) if ckpt.is_dir() or ckpt.suffix == ".safetensors" else None
    carried = read_weights(weights)[1].get("config") if weights is not None else None
    if not isinstance(carried, dict):
        raise ConfigError(
            f"{ckpt}: the checkpoint carries no run config; pass --config (the data and evaluation settings)"
        )
    return apply_overrides(from_dict(carried, source=f"{ckpt} (its run config)"), overrides), ckpt


def save_split_features(
    evaluation: SplitEvaluation, out: str | Path, *, rerank: bool = False, names: tuple[str, str] = FEATURES_FILES
) -> tuple[Path, Path]:
    """The query and gallery descriptors of one evaluated split as two features files.

    Their metadata records the protocol, the distance (``metric``: ``inner``, the evaluator's
    ``-<q, g>``), the trial, the direction and whether the scored distances were re-ranked.
    """
    from vireid.evaluation.features import save_features

    s = evaluation.split
    meta = {
        "protocol": s.protocol,
        "metric": "inner",
        "rerank": bool(rerank),
        "trial": s.trial,
        "direction": s.direction,
    }
    paths = (Path(out) / names[0], Path(out) / names[1])
    for path, records, feats in (
        (paths[0], s.query, evaluation.query_feats),
        (paths[1], s.gallery, evaluation.gallery_feats),
    ):
        modalities = {r.modality for r in records}
        save_features(
            path,
            feats,
            [r.pid for r in records],
            [r.camid for r in records],
            paths=[r.path for r in records],
            modality=modalities.pop() if len(modalities) == 1 else None,
            meta=meta,
        )
    return paths


def save_all_features(
    evaluations: Sequence[SplitEvaluation], out: str | Path, *, rerank: bool = False
) -> dict[str, Path]:
    """Every evaluated split's descriptors under ``out/DIRECTION/``: ``query.safetensors`` (once
    when the direction's trials share their queries, else ``query_trialT``) and
    ``gallery_trialT.safetensors``; returns ``{name: path}``."""
    written: dict[str, Path] = {}
    by_direction: dict[str, list[SplitEvaluation]] = {}
    for e in evaluations:
        by_direction.setdefault(e.split.direction, []).append(e)
    for direction, items in by_direction.items():
        shared = len({tuple(r.path for r in e.split.query) for e in items}) == 1
        for e in items:
            t = e.split.trial
            names = ("query.safetensors" if shared else f"query_trial{t}.safetensors", f"gallery_trial{t}.safetensors")
            q, g = save_split_features(e, Path(out) / direction, rerank=rerank, names=names)
            written[f"{direction}/{q.name}"], written[f"{direction}/{g.name}"] = q, g
    return written


def write_split_pictures(evaluation: SplitEvaluation, out: str | Path, *, rerank: bool = False) -> dict[str, Path]:
    """Rank list (the scored ranking, the protocol's rules), t-SNE and distance histograms of one
    evaluated split, and its features files; returns ``{name: path}``."""
    from vireid.viz.report import write_test_pictures

    s = evaluation.split
    written = write_test_pictures(
        out,
        evaluation.query_feats,
        evaluation.gallery_feats,
        s.query,
        s.gallery,
        distmat=evaluation.distmat,
        protocol=s.protocol,
        metric="inner",
        rerank=rerank,
        title=f"trial {s.trial}, {s.direction.replace('_', ' ')}",
    )
    q, g = save_split_features(evaluation, out, rerank=rerank)
    written.update(query_features=q, gallery_features=g)
    return written


def run_test(
    cfg: Config,
    checkpoint: str | Path,
    *,
    out: str | Path | None = None,
    device: str | None = None,
    rerank: bool = False,
    viz: bool = False,
    save_features: bool = False,
) -> TestResult:
    """Evaluate ``checkpoint`` with the full protocol of ``cfg``'s dataset and write ``metrics.json``
    (with ``viz`` the pictures, with ``save_features`` every split's features files) into ``out``
    (default: ``RUN/test/``); see the module docstring."""
    from vireid.config import to_dict
    from vireid.engine import distributed
    from vireid.engine.context import cpu_threads, evaluate_model, load_dataset, make_context
    from vireid.inference.loading import read_checkpoint
    from vireid.utils.io import atomic_write_json
    from vireid.utils.paths import check_output
    from vireid.viz.run import write_run_pictures

    loaded = read_checkpoint(checkpoint)
    notes = differences_from_run(cfg, loaded.config)
    folder = Path(out) if out else default_out(loaded.weights) / TEST_FOLDER
    check_output(folder, {"checkpoint": loaded.weights, "data.root": cfg.data.root}, folder=True)
    ctx = make_context(cfg, device)
    written: dict[str, Path] = {}
    try:
        with cpu_threads(cfg.train.threads):
            dataset = load_dataset(cfg, ctx)
            model = loaded.model.to(ctx.device)
            results, summary = evaluate_model(model, dataset, cfg, ctx, final=True, rerank=rerank)
            summary = {**summary, "checkpoint": str(loaded.weights), "rerank": bool(rerank), "config": to_dict(cfg)}
            if ctx.dist.is_main:
                atomic_write_json(folder / "metrics.json", summary)
                written["metrics"] = folder / "metrics.json"
                written.update(write_run_pictures(folder, metrics=summary, name=default_out(loaded.weights).name))
                if viz:
                    written.update(write_split_pictures(results[0], folder, rerank=rerank))
                if save_features:
                    written.update(save_all_features(results, folder / "features", rerank=rerank))
    finally:
        distributed.cleanup()
    return TestResult(summary, results, folder, written, ctx.dist.is_main, notes)
