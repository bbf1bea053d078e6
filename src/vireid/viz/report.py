"""The pictures of a test run: ``ranks.png``, ``tsne.png`` and ``distances.png`` in the run folder.

Called by ``vireid test --viz`` with the query and gallery descriptors of one evaluation
split, their records, the distances the metrics scored and the split's protocol (whose keep
mask the rank list obeys, see :func:`vireid.viz.ranks.protocol_rank_figure`).  Large sets are
subsampled deterministically so the figures stay readable and cheap: the t-SNE shows at most
``tsne_ids`` identities and ``tsne_points`` points, the histograms use at most
``hist_points`` descriptors (all pairs among them), Euclidean between L2-normalised descriptors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vireid.data.records import Record
from vireid.errors import ShapeError


def _np(x: Any) -> np.ndarray:
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim != 2:
        raise ShapeError(f"expected descriptors (N, D), got shape {x.shape}")
    return x.astype(np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _subsample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, size=limit, replace=False))


def write_test_pictures(
    run_dir: str | Path,
    query_feats: Any,
    gallery_feats: Any,
    query_records: Sequence[Record],
    gallery_records: Sequence[Record],
    *,
    distmat: Any = None,
    protocol: str = "plain",
    metric: str = "inner",
    rerank: bool = False,
    title: str | None = None,
    topk: int = 10,
    num_queries: int = 5,
    tsne_ids: int = 20,
    tsne_points: int = 600,
    hist_points: int = 3000,
    seed: int = 0,
    prefix: str = "",
) -> dict[str, Path]:
    """Write ``{prefix}ranks.png``, ``{prefix}tsne.png``, ``{prefix}distances.png``; returns their paths.

    ``distmat``: the (Q, G) distances to rank by (default: Euclidean between the L2-normalised
    descriptors), named by ``metric`` / ``rerank`` in the rank list's title; ``protocol``: whose
    rules decide which gallery items each query may match; ``num_queries`` queries evenly
    spread over the query set are drawn.
    """
    from vireid.evaluation.distance import pairwise_distance
    from vireid.viz.distances import distance_histogram_figure
    from vireid.viz.projection import tsne_figure
    from vireid.viz.ranks import order_text, protocol_rank_figure

    q, g = _normalise(_np(query_feats)), _normalise(_np(gallery_feats))
    if len(q) != len(query_records) or len(g) != len(gallery_records):
        raise ShapeError(
            f"{len(q)} query / {len(g)} gallery descriptors but {len(query_records)} / {len(gallery_records)} records"
        )
    run_dir = Path(run_dir)
    rng = np.random.default_rng(seed)
    out: dict[str, Path] = {}

    if distmat is None:
        dist, metric = pairwise_distance(q, g, "euclidean"), "euclidean"
    else:
        dist = _np(distmat)
    heading = f"{title + ', ' if title else ''}protocol {protocol}, {order_text(metric, rerank)}"
    out["ranks"] = protocol_rank_figure(
        dist,
        query_records,
        gallery_records,
        run_dir / f"{prefix}ranks.png",
        protocol=protocol,
        topk=topk,
        num_queries=num_queries,
        title=heading,
        metric=metric,
        rerank=rerank,
    )

    feats = np.concatenate([q, g])
    records = list(query_records) + list(gallery_records)
    pids = np.asarray([r.pid for r in records])
    mods = np.asarray([r.modality for r in records])
    chosen = np.unique(pids)[:tsne_ids]
    sel = np.flatnonzero(np.isin(pids, chosen))
    sel = sel[_subsample(len(sel), tsne_points, rng)]
    out["tsne"] = tsne_figure(feats[sel], pids[sel], mods[sel], run_dir / f"{prefix}tsne.png", max_ids=tsne_ids)

    sel = _subsample(len(feats), hist_points, rng)
    out["distances"] = distance_histogram_figure(feats[sel], pids[sel], mods[sel], run_dir / f"{prefix}distances.png")
    return out
