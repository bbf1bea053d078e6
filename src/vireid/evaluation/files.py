"""Metrics of saved features files (``vireid evaluate``): one query file, one gallery file per trial.

Each gallery file is one trial (e.g. the 10 random SYSU-MM01 gallery draws), evaluated
against the same query set under the protocol's rules; the summary holds the mean
``rank1, rank5, rank10, rank20, mAP, mINP`` as fractions, their std, and the per-trial values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vireid.errors import ShapeError, VireidError
from vireid.evaluation.distance import query_gallery_distance
from vireid.evaluation.features import FeatureSet, load_features
from vireid.evaluation.metrics import evaluate
from vireid.evaluation.result import EvalResult, aggregate
from vireid.utils.paths import same_path


@dataclass
class FilesEvaluation:
    """What :func:`evaluate_files` returns."""

    results: list[EvalResult]  # one per gallery file, in order
    names: list[str]  # the gallery files' names
    summary: dict[str, Any]  # plain data (the ``--out`` JSON of ``vireid evaluate``)
    warnings: list[str] = field(default_factory=list)  # what makes the numbers suspect


def suspicious_pair(query: str | os.PathLike, gallery: str | os.PathLike, q: FeatureSet, g: FeatureSet) -> list[str]:
    """Why a query/gallery pair does not make a cross-modal evaluation: the same file, shared
    images (each such query finds itself at distance 0), or one modality on both sides."""
    out = []
    if same_path(query, gallery):
        out.append(f"{gallery} is the query file itself: every query finds itself, so the scores are meaningless")
    elif q.paths is not None and g.paths is not None and set(q.paths) & set(g.paths):
        n = len(set(q.paths) & set(g.paths))
        out.append(f"{gallery}: {n} of its images are also queries; each finds itself at distance 0")
    if q.modality is not None and q.modality == g.modality:
        out.append(f"{gallery}: query and gallery are both {q.modality}; this is not a cross-modal evaluation")
    return out


def _load_nonempty(path: str | os.PathLike, role: str) -> FeatureSet:
    """The features file ``path`` (:func:`load_features`), refused in one line naming it when it
    holds no descriptors: an empty ``role`` set (``"query"``, ``"gallery"``) has nothing to score."""
    fs = load_features(path)
    if len(fs) == 0:
        raise ShapeError(f"{path}: the {role} features file holds no descriptors (0 rows); expected at least one")
    return fs


def evaluate_files(
    query: str | os.PathLike,
    galleries: Sequence[str | os.PathLike],
    *,
    protocol: str,
    metric: str = "euclidean",
    rerank: bool = False,
    max_rank: int = 20,
    out: str | os.PathLike | None = None,
) -> FilesEvaluation:
    """Evaluate the query features file against each gallery features file (see the module docstring);
    with ``out``, write the summary there as JSON (atomically; never over one of the inputs)."""
    from vireid.utils.io import atomic_write_json
    from vireid.utils.outputs import EVALUATION, check_file, reading

    if max_rank < 1:
        raise VireidError(f"max_rank must be >= 1, got {max_rank}")
    inputs = {"query features file": query, "gallery features file": galleries}
    if out is not None:
        check_file(out, EVALUATION, inputs=inputs)  # before any work
    q = _load_nonempty(query, "query")
    results, warnings = [], []
    for path in galleries:
        g = _load_nonempty(path, "gallery")
        warnings += suspicious_pair(query, path, q, g)
        dist = query_gallery_distance(q.feats, g.feats, metric, rerank=rerank)
        try:
            results.append(evaluate(dist, q.pids, g.pids, q.camids, g.camids, protocol=protocol, max_rank=max_rank))
        except VireidError as exc:
            raise VireidError(f"{path}: {exc}") from None
    agg = aggregate(results)
    summary = dict(agg["mean"])
    summary.update(
        std=agg["std"],
        trials=[dict(t, gallery=str(p)) for t, p in zip(agg["trials"], galleries, strict=True)],
        num_trials=agg["num_trials"],
        protocol=protocol,
        metric=metric,
        rerank=bool(rerank),
        query=str(query),
    )
    if out is not None:
        with reading(inputs):  # checked again as it is written, with the same inputs
            atomic_write_json(out, summary, kind=EVALUATION)
    return FilesEvaluation(results, [Path(p).name for p in galleries], summary, warnings)
