"""Metrics of saved features files (``vireid evaluate``): one query file, one gallery file per trial.

Each gallery file is one trial (e.g. the 10 random SYSU-MM01 gallery draws), evaluated
against the same query set under the protocol's rules; the summary holds the mean
``rank1, rank5, rank10, rank20, mAP, mINP`` as fractions, their std, and the per-trial values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from vireid.errors import VireidError
from vireid.evaluation.distance import query_gallery_distance
from vireid.evaluation.features import load_features
from vireid.evaluation.metrics import evaluate
from vireid.evaluation.result import EvalResult, aggregate


@dataclass
class FilesEvaluation:
    """What :func:`evaluate_files` returns."""

    results: list[EvalResult]  # one per gallery file, in order
    names: list[str]           # the gallery files' names
    summary: dict[str, Any]    # plain data (the ``--out`` JSON of ``vireid evaluate``)


def evaluate_files(query: str | os.PathLike, galleries: Sequence[str | os.PathLike], *, protocol: str,
                   metric: str = "euclidean", rerank: bool = False, max_rank: int = 20) -> FilesEvaluation:
    """Evaluate the query features file against each gallery features file (see the module docstring)."""
    if max_rank < 1:
        raise VireidError(f"max_rank must be >= 1, got {max_rank}")
    q = load_features(query)
    results = []
    for path in galleries:
        g = load_features(path)
        dist = query_gallery_distance(q.feats, g.feats, metric, rerank=rerank)
        try:
            results.append(evaluate(dist, q.pids, g.pids, q.camids, g.camids, protocol=protocol, max_rank=max_rank))
        except VireidError as exc:
            raise VireidError(f"{path}: {exc}") from None
    agg = aggregate(results)
    summary = dict(agg["mean"])
    summary.update(std=agg["std"], trials=[dict(t, gallery=str(p)) for t, p in zip(agg["trials"], galleries)],
                   num_trials=agg["num_trials"], protocol=protocol, metric=metric, rerank=bool(rerank),
                   query=str(query))
    return FilesEvaluation(results, [Path(p).name for p in galleries], summary)
