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


def _trained_with(cfg: Config, run_config: dict | None) -> bool:
    """Whether ``cfg`` describes the model of the checkpoint's run (its ``model.name`` and
    ``model.args``): only then are its training settings (``loss``, ``optim``) this model's."""
    from vireid.config import to_dict

    theirs = (run_config or {}).get("model") if isinstance(run_config, dict) else None
    mine = to_dict(cfg)["model"]
    return isinstance(theirs, dict) and theirs.get("name") == mine["name"] and theirs.get("args") == mine["args"]


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


def test_inputs(
    run: str | Path | None = None,
    config: str | Path | None = None,
    checkpoint: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> tuple[Config, Path]:
    """The config and checkpoint ``vireid test`` uses.

    The checkpoint: ``checkpoint``, else the run folder's best (else last) checkpoint.  The
    config: ``config``, else the run folder's ``config.yaml``, else the run config the checkpoint
    carries; ``overrides`` apply to it.  A stored config's relative paths (older runs) resolve
    against the file that stores them (:func:`vireid.config.paths.stored_paths`), never against the
    current folder.
    """
    from vireid.config import apply_overrides, from_dict, load_config
    from vireid.config.paths import absolute_paths, stored_paths
    from vireid.core import plugins
    from vireid.core.checkpoints import resolve_checkpoint
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
    given = tuple(o.split("=", 1)[0].strip() for o in overrides)  # keys the command line sets anew
    if config is None and run is not None:  # the run's own config: its paths are the run's
        stored = run / "config.yaml"
        return absolute_paths(apply_overrides(stored_paths(load_config(stored), stored, skip=given), overrides)), ckpt
    if config is not None:
        return absolute_paths(load_config(config, overrides)), ckpt
    weights = resolve_checkpoint(ckpt) if ckpt.is_dir() or ckpt.suffix == ".safetensors" else None
    meta = read_weights(weights)[1] if weights is not None else {}
    carried = meta.get("config")
    if not isinstance(carried, dict):
        raise ConfigError(
            f"{ckpt}: the checkpoint carries no run config; pass --config (the data and evaluation settings)"
        )
    needed = meta.get("plugins", [])  # the plugins its model came from: a missing one is named
    plugins.require(
        needed if isinstance(needed, list) else [], str(weights), what=f"its model ({meta.get('architecture')})"
    )
    cfg = stored_paths(from_dict(carried, source=f"{ckpt} (its run config)"), weights, skip=given)
    return absolute_paths(apply_overrides(cfg, overrides)), ckpt


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
    # a side embedded through the other modality's stem (RegDB as published) says so
    meta.update({f"{side}_stem": stem for side, stem in (("query", s.query_stem), ("gallery", s.gallery_stem)) if stem})
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


def planned_files(folder: Path, *, viz: bool, save_features: bool) -> list[tuple[Path, Any]]:
    """The files :func:`run_test` may write in ``folder`` with their kinds (checked before any work);
    every features file already under ``folder/features/`` counts, whatever split it holds."""
    from vireid.utils import outputs as o

    files: list[tuple[Path, Any]] = [(folder / "metrics.json", o.TEST_METRICS), (folder / "cmc.png", o.PICTURE)]
    if viz:
        files += [(folder / f"{name}.png", o.PICTURE) for name in ("ranks", "tsne", "distances")]
        files += [(folder / name, o.FEATURES) for name in FEATURES_FILES]
    if save_features and (folder / "features").is_dir():
        files += [(p, o.FEATURES) for p in sorted((folder / "features").glob("*/*.safetensors"))]
    return files


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
    from vireid.config.build import check_with_model
    from vireid.core import distributed
    from vireid.core.checkpoints import run_folder
    from vireid.engine.context import cpu_threads, evaluate_model, load_dataset, make_context
    from vireid.inference.loading import read_checkpoint
    from vireid.utils import outputs
    from vireid.utils.io import atomic_write_json
    from vireid.viz.run import write_run_pictures

    loaded = read_checkpoint(checkpoint)
    if _trained_with(cfg, loaded.config):  # the config is this model's: what train would refuse, before any work
        check_with_model(cfg, loaded.model)
    notes = differences_from_run(cfg, loaded.config)
    folder = Path(out) if out else run_folder(loaded.weights) / TEST_FOLDER
    inputs = {"checkpoint": loaded.weights, "data.root": cfg.data.root}
    with outputs.reading(inputs, datasets=[cfg.data.root]):  # before any work
        outputs.check_folder(folder, outputs.TEST_FOLDER)
        outputs.check_files(planned_files(folder, viz=viz, save_features=save_features))
    ctx = make_context(cfg, device)
    written: dict[str, Path] = {}
    try:
        with cpu_threads(cfg.train.threads), outputs.reading(inputs, datasets=[cfg.data.root]):
            dataset = load_dataset(cfg, ctx)
            model = loaded.model.to(ctx.device)
            results, summary = evaluate_model(model, dataset, cfg, ctx, final=True, rerank=rerank)
            summary = {**summary, "checkpoint": str(loaded.weights), "rerank": bool(rerank), "config": to_dict(cfg)}
            if ctx.dist.is_main:
                atomic_write_json(folder / "metrics.json", summary, kind=outputs.TEST_METRICS)
                written["metrics"] = folder / "metrics.json"
                written.update(write_run_pictures(folder, metrics=summary, name=run_folder(loaded.weights).name))
                if viz:
                    written.update(write_split_pictures(results[0], folder, rerank=rerank))
                if save_features:
                    written.update(save_all_features(results, folder / "features", rerank=rerank))
    finally:
        distributed.cleanup()
    return TestResult(summary, results, folder, written, ctx.dist.is_main, notes)
