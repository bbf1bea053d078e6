"""Rank-list pictures: each query with its top-k gallery images of the other modality.

Correct matches (same pid) get a green border, wrong ones red.  The number under each
gallery image is the same quantity in every picture: the cosine similarity of the query's and
the gallery image's descriptors (``cos 0.83``), whatever distance orders the list (the title
names it; with re-ranking the order need not follow the cosine).  A picture drawn without
descriptors shows the ranking distance instead, labelled ``d``.  Gallery items the protocol forbids a query to match (e.g. SYSU's
camera 3 -> camera 2 rule) are left out: :func:`protocol_rank_figure` asks the protocol
object (:mod:`vireid.evaluation.protocols`) for the keep mask, so every rank-list picture --
``vireid test --viz``, ``vireid demo``, ``vireid visualize ranks`` -- ranks the same gallery
items the metrics rank.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps

from vireid.data.records import Record
from vireid.errors import ShapeError
from vireid.viz._mpl import pyplot, save_figure


_DISTANCE_NAMES = {"inner": "-q.g (the distance vireid test scores)", "cosine": "cosine distance",
                   "euclidean": "Euclidean distance", "sqeuclidean": "squared Euclidean distance"}


def order_text(metric: str, rerank: bool = False) -> str:
    """How a rank list is ordered, for its title: ``"order: cosine distance, re-ranked"``."""
    return f"order: {_DISTANCE_NAMES.get(metric, metric)}" + (", k-reciprocal re-ranked" if rerank else "")


def spread_queries(num_query: int, num: int) -> list[int]:
    """``num`` query indices spread evenly over ``range(num_query)``, first and last included."""
    n = max(1, min(num, num_query))
    return np.unique(np.linspace(0, num_query - 1, num=n).round().astype(int)).tolist()


def rank_lists(distmat: np.ndarray, query_indices: Sequence[int], topk: int,
               keep: np.ndarray | None = None) -> list[np.ndarray]:
    """Per query, the indices of its ``topk`` nearest gallery items among those ``keep`` allows
    (all when ``None``); equal distances keep gallery order."""
    out = []
    for q in query_indices:
        d = np.asarray(distmat[q], dtype=np.float64)
        cols = np.arange(len(d)) if keep is None else np.flatnonzero(keep[q])
        out.append(cols[np.argsort(d[cols], kind="stable")[:topk]])
    return out


def _thumb(path: str, size: tuple[int, int], border: tuple[int, int, int] | None) -> np.ndarray:
    from vireid.data.image import read_image

    img = read_image(path).resize((size[1], size[0]), Image.BILINEAR)
    if border is not None:
        img = ImageOps.expand(img.crop((4, 4, size[1] - 4, size[0] - 4)), border=4, fill=border)
    return np.asarray(img)


def _cosine(query_feats: np.ndarray, gallery_feats: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """Cosine similarities of the query ``rows`` against every gallery descriptor."""
    q = np.asarray(query_feats, dtype=np.float64)[list(rows)]
    g = np.asarray(gallery_feats, dtype=np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    return q @ g.T


def rank_list_figure(distmat: np.ndarray, query_paths: Sequence[str], query_pids: Sequence[int],
                     gallery_paths: Sequence[str], gallery_pids: Sequence[int], out: str | Path, *,
                     topk: int = 10, query_indices: Sequence[int] | None = None, keep: np.ndarray | None = None,
                     thumb_size: tuple[int, int] = (128, 64), title: str | None = None,
                     query_feats: np.ndarray | None = None, gallery_feats: np.ndarray | None = None) -> Path:
    """Draw rank lists for ``query_indices`` (default: the first 5 queries) and save a PNG.

    With ``query_feats`` / ``gallery_feats`` the number under each image is their cosine
    similarity (``cos``), else the ranking distance (``d``); a caption says which."""
    distmat = np.asarray(distmat)
    if distmat.shape != (len(query_paths), len(gallery_paths)):
        raise ShapeError(f"distmat {distmat.shape} does not match {len(query_paths)} queries x "
                         f"{len(gallery_paths)} gallery images")
    if keep is not None and np.shape(keep) != distmat.shape:
        raise ShapeError(f"keep mask {np.shape(keep)} does not match distmat {distmat.shape}")
    qs = list(query_indices) if query_indices is not None else list(range(min(5, len(query_paths))))
    topk = min(topk, len(gallery_paths))
    lists = rank_lists(distmat, qs, topk, keep)
    cosine = None
    if query_feats is not None and gallery_feats is not None:
        if len(query_feats) != len(query_paths) or len(gallery_feats) != len(gallery_paths):
            raise ShapeError(f"{len(query_feats)} / {len(gallery_feats)} descriptors for {len(query_paths)} queries "
                             f"and {len(gallery_paths)} gallery images")
        cosine = _cosine(query_feats, gallery_feats, qs)
    plt = pyplot()
    fig, axes = plt.subplots(len(qs), topk + 1, figsize=(1.1 * (topk + 1), 2.3 * len(qs)), squeeze=False)
    for row, (q, order) in enumerate(zip(qs, lists)):
        shown, fmt = (cosine[row], "cos {:.2f}") if cosine is not None else (distmat[q], "d {:.3f}")
        ax = axes[row, 0]
        ax.imshow(_thumb(query_paths[q], thumb_size, None))
        ax.set_title(f"query\npid {query_pids[q]}", fontsize=7)
        for col, g in enumerate(order, start=1):
            ok = gallery_pids[g] == query_pids[q]
            ax = axes[row, col]
            ax.imshow(_thumb(gallery_paths[g], thumb_size, (0, 170, 0) if ok else (220, 0, 0)))
            ax.set_title(f"#{col}", fontsize=7)
            ax.set_xlabel(fmt.format(shown[g]), fontsize=7)
        for ax in axes[row, len(order) + 1:]:  # the protocol left fewer than topk items
            ax.axis("off")
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    caption = ("number under each image: cosine similarity of the query and gallery descriptors (1 = same "
               "direction); " if cosine is not None else "number under each image: the ranking distance "
               "(smaller = closer); ") + "green border: same identity, red: another"
    fig.text(0.5, 0.0, caption, ha="center", va="top", fontsize=7)
    return save_figure(fig, out)


def protocol_rank_figure(distmat: np.ndarray, query: Sequence[Record], gallery: Sequence[Record],
                         out: str | Path, *, protocol: str = "plain", topk: int = 10, num_queries: int = 5,
                         query_indices: Sequence[int] | None = None, title: str | None = None,
                         query_feats: np.ndarray | None = None, gallery_feats: np.ndarray | None = None) -> Path:
    """Rank lists of ``query`` against ``gallery`` under ``protocol``'s rules (its keep mask).

    ``distmat`` is query x gallery (smaller = closer); the queries drawn are ``query_indices``
    or ``num_queries`` spread evenly over the query set (:func:`spread_queries`).
    """
    from vireid.evaluation.protocols import get_protocol

    keep = get_protocol(protocol).keep([r.pid for r in query], [r.camid for r in query],
                                       [r.pid for r in gallery], [r.camid for r in gallery])
    picks = list(query_indices) if query_indices is not None else spread_queries(len(query), num_queries)
    return rank_list_figure(np.asarray(distmat), [r.path for r in query], [r.pid for r in query],
                            [r.path for r in gallery], [r.pid for r in gallery], out, topk=topk,
                            query_indices=picks, keep=keep, title=title, query_feats=query_feats,
                            gallery_feats=gallery_feats)
