"""Testing a checkpoint on its dataset's full protocol (``vireid test``).

The model is rebuilt from the checkpoint's own metadata (architecture and constructor
arguments, :func:`vireid.inference.loading.read_checkpoint`), as every other command does;
the config supplies the data root, the protocol options and the evaluation settings.

Written into the output folder (default: the checkpoint's run folder)::

    OUT/metrics.json                  the metrics (:mod:`vireid.engine.evaluator` layout), the
                                      checkpoint and whether re-ranking was used
    OUT/ranks.png, tsne.png,          with ``viz``: pictures of the first evaluated split; the
        distances.png                 rank list shows the ranking the metrics scored
    OUT/features_query.safetensors,   with ``viz``: that split's descriptors (features files
        features_gallery.safetensors  recording the protocol and distance, so
                                      ``vireid visualize ranks`` redraws the same rank lists)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vireid.config import Config
from vireid.engine.evaluator import SplitEvaluation

FEATURES_FILES = ("features_query.safetensors", "features_gallery.safetensors")


@dataclass
class TestResult:
    """What :func:`run_test` returns (``written`` is empty on non-main DDP ranks)."""

    summary: dict[str, Any]                 # the metrics.json content
    evaluations: list[SplitEvaluation]
    out: Path                               # the output folder
    written: dict[str, Path] = field(default_factory=dict)  # name -> file written
    is_main: bool = True

    __test__ = False  # not a pytest test class


def default_out(checkpoint: Path) -> Path:
    """The run folder of a checkpoint (the folder above its ``checkpoints/``), else its folder."""
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    for p in (folder, *folder.parents):
        if p.name == "checkpoints":
            return p.parent
    return folder


def save_split_features(evaluation: SplitEvaluation, out: str | Path, *, rerank: bool = False,
                        names: tuple[str, str] = FEATURES_FILES) -> tuple[Path, Path]:
    """The query and gallery descriptors of one evaluated split as two features files.

    Their metadata records the protocol, the distance (``metric``: ``inner``, the evaluator's
    ``-<q, g>``), the trial, the direction and whether the scored distances were re-ranked.
    """
    from vireid.evaluation.features import save_features

    s = evaluation.split
    meta = {"protocol": s.protocol, "metric": "inner", "rerank": bool(rerank), "trial": s.trial,
            "direction": s.direction}
    paths = (Path(out) / names[0], Path(out) / names[1])
    for path, records, feats in ((paths[0], s.query, evaluation.query_feats),
                                 (paths[1], s.gallery, evaluation.gallery_feats)):
        modalities = {r.modality for r in records}
        save_features(path, feats, [r.pid for r in records], [r.camid for r in records],
                      paths=[r.path for r in records], modality=modalities.pop() if len(modalities) == 1 else None,
                      meta=meta)
    return paths


def write_split_pictures(evaluation: SplitEvaluation, out: str | Path, *, rerank: bool = False) -> dict[str, Path]:
    """Rank list (the scored ranking, the protocol's rules), t-SNE and distance histograms of one
    evaluated split, and its features files; returns ``{name: path}``."""
    from vireid.viz.report import write_test_pictures

    s = evaluation.split
    written = write_test_pictures(out, evaluation.query_feats, evaluation.gallery_feats, s.query, s.gallery,
                                  distmat=evaluation.distmat, protocol=s.protocol)
    q, g = save_split_features(evaluation, out, rerank=rerank)
    written.update(query_features=q, gallery_features=g)
    return written


def run_test(cfg: Config, checkpoint: str | Path, *, out: str | Path | None = None, device: str | None = None,
             rerank: bool = False, viz: bool = False) -> TestResult:
    """Evaluate ``checkpoint`` with the full protocol of ``cfg``'s dataset and write ``metrics.json``
    (and, with ``viz``, the pictures) into ``out``; see the module docstring."""
    from vireid.engine import distributed
    from vireid.engine.context import cpu_threads, evaluate_model, load_dataset, make_context
    from vireid.inference.loading import read_checkpoint
    from vireid.utils.io import atomic_write_json

    loaded = read_checkpoint(checkpoint)
    folder = Path(out) if out else default_out(loaded.weights)
    ctx = make_context(cfg, device)
    written: dict[str, Path] = {}
    try:
        with cpu_threads(cfg.train.threads):
            dataset = load_dataset(cfg, ctx)
            model = loaded.model.to(ctx.device)
            results, summary = evaluate_model(model, dataset, cfg, ctx, final=True, rerank=rerank)
            summary = {**summary, "checkpoint": str(loaded.weights), "rerank": bool(rerank)}
            if ctx.dist.is_main:
                atomic_write_json(folder / "metrics.json", summary)
                written["metrics"] = folder / "metrics.json"
                if viz:
                    written.update(write_split_pictures(results[0], folder, rerank=rerank))
    finally:
        distributed.cleanup()
    return TestResult(summary, results, folder, written, ctx.dist.is_main)
