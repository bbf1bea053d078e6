"""Pictures of saved features files (``vireid visualize ranks|tsne|distances``).

Features files come from ``vireid extract`` or ``vireid test --viz``
(:mod:`vireid.evaluation.features`).  Rank lists need the image paths they store; t-SNE and
histograms their modality.  A rank list ranks by the distance and obeys the protocol that
the query file records in its metadata (``vireid test --viz`` records ``protocol``,
``metric`` and ``rerank``), so it redraws the test run's picture; files without them are
ranked by ``inner`` too (for L2-normalised descriptors, cosine) under the ``plain`` protocol
(nothing filtered).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from vireid.data.records import Record
from vireid.errors import VireidError
from vireid.evaluation.features import FeatureSet, load_features
from vireid.utils.outputs import PICTURE, check_file, reading


def load_for_picture(path: str | os.PathLike, *, need_paths: bool = False, need_modality: bool = False) -> FeatureSet:
    """A features file, refused when it lacks what the picture needs."""
    fs = load_features(path)
    if need_paths and fs.paths is None:
        raise VireidError(f"{path}: stores no image paths (needed for rank lists); write it with vireid extract")
    if need_modality and fs.modality is None:
        raise VireidError(f"{path}: stores no modality (needed to split visible/infrared)")
    return fs


def stack_features(paths: Sequence[str | os.PathLike]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Descriptors, pids and modalities of several features files, concatenated."""
    sets = [load_for_picture(p, need_modality=True) for p in paths]
    dims = {fs.feats.shape[1] for fs in sets}
    if len(dims) > 1:
        raise VireidError(
            f"features files have different descriptor sizes {sorted(dims)}; were they extracted by the same model?"
        )
    feats = np.concatenate([fs.feats for fs in sets]).astype(np.float32)
    pids = np.concatenate([fs.pids for fs in sets])
    mods = np.concatenate([[fs.modality] * len(fs) for fs in sets])
    return feats, pids, mods


def _records(fs: FeatureSet) -> list[Record]:
    return [
        Record(p, int(pid), int(cam), fs.modality)
        for p, pid, cam in zip(fs.paths, fs.pids.tolist(), fs.camids.tolist(), strict=True)  # type: ignore[arg-type]
    ]


def _recorded(q: FeatureSet, g: FeatureSet, key: str, default):
    values = {fs.meta[key] for fs in (q, g) if key in fs.meta}
    if len(values) > 1:
        raise VireidError(
            f"the query and gallery files record different {key}s {sorted(map(str, values))}; pass --{key}"
        )
    return values.pop() if values else default


def ranks_picture(
    query: str | os.PathLike,
    gallery: str | os.PathLike,
    out: str | os.PathLike,
    *,
    protocol: str | None = None,
    metric: str | None = None,
    rerank: bool | None = None,
    topk: int = 10,
    num_queries: int = 5,
    query_indices: Sequence[int] | None = None,
) -> Path:
    """Rank lists of a query features file against a gallery features file.

    ``protocol``, ``metric`` and ``rerank`` default to what the files record (else ``plain``,
    ``inner`` -- the distance ``vireid test`` scores; on the L2-normalised descriptors of
    ``vireid extract`` it ranks as cosine --, no re-ranking); the distances are
    :func:`vireid.evaluation.distance.query_gallery_distance`'s.
    """
    from vireid.evaluation.distance import query_gallery_distance
    from vireid.viz.ranks import order_text, protocol_rank_figure

    inputs = {"query features file": query, "gallery features file": gallery}
    check_file(out, PICTURE, inputs=inputs)  # before any work
    if topk < 1 or num_queries < 1:
        raise VireidError(f"--topk and --num-queries must be >= 1, got {topk} and {num_queries}")
    q, g = load_for_picture(query, need_paths=True), load_for_picture(gallery, need_paths=True)
    if q.feats.shape[1] != g.feats.shape[1]:
        raise VireidError(f"descriptor sizes differ: {q.feats.shape[1]} ({query}) vs {g.feats.shape[1]} ({gallery})")
    if query_indices is not None:
        bad = [i for i in query_indices if not 0 <= i < len(q)]
        if bad:
            raise VireidError(f"--query-index {' '.join(map(str, bad))} out of range: {query} has {len(q)} queries")
    protocol = protocol or _recorded(q, g, "protocol", "plain")
    metric = metric or _recorded(q, g, "metric", "inner")
    rerank = bool(_recorded(q, g, "rerank", False)) if rerank is None else rerank
    dist = query_gallery_distance(
        torch.from_numpy(q.feats.astype(np.float32)),
        torch.from_numpy(g.feats.astype(np.float32)),
        metric,
        rerank=rerank,
    )
    with reading(inputs):
        return protocol_rank_figure(
            dist.numpy(),
            _records(q),
            _records(g),
            out,
            protocol=protocol,
            topk=topk,
            num_queries=num_queries,
            query_indices=query_indices,
            metric=metric,
            rerank=rerank,
            title=f"{Path(query).name} vs {Path(gallery).name}: protocol {protocol}, {order_text(metric, rerank)}",
            listed_in=(str(query), str(gallery)),  # an image that cannot be drawn: named with its file
        )


def tsne_picture(
    paths: Sequence[str | os.PathLike], out: str | os.PathLike, *, perplexity: float = 30.0, max_ids: int = 20
) -> Path:
    """t-SNE of the descriptors of several features files (colour: identity, marker: modality)."""
    from vireid.viz.projection import tsne_figure

    check_file(out, PICTURE, inputs={"features file": paths})  # before any work
    feats, pids, mods = stack_features(paths)
    drawn = int(np.isin(pids, np.unique(pids)[:max_ids]).sum())  # the points of the identities drawn
    if drawn < 3:
        names = ", ".join(str(p) for p in paths)
        points = f"{len(pids)} point{'s' * (len(pids) != 1)}" + (" in all" if len(paths) > 1 else "")
        if drawn < len(pids):
            ids = f"identit{'ies' if max_ids != 1 else 'y'}"
            points += f", only {drawn} of them of the {max_ids} {ids} drawn (--max-ids {max_ids})"
        raise VireidError(f"{names}: {points}; t-SNE needs at least 3")
    with reading({"features file": paths}):
        return tsne_figure(feats, pids, mods, out, perplexity=perplexity, max_ids=max_ids)


def distances_picture(paths: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Intra/inter-identity distance histograms, within and across modalities, of several features files."""
    from vireid.viz.distances import distance_histogram_figure

    check_file(out, PICTURE, inputs={"features file": paths})  # before any work
    feats, pids, mods = stack_features(paths)
    with reading({"features file": paths}):
        return distance_histogram_figure(feats, pids, mods, out)
