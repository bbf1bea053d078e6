"""Rank-list pictures: each query with its top-k gallery images of the other modality.

Correct matches (same pid) get a green border, wrong ones red.  The number under each
gallery image is the score that orders the list, labelled with its name (:data:`SCORES`):
``q.g`` for the inner product ``vireid test`` ranks by (higher = closer; on L2-normalised
descriptors it is their cosine), ``cos`` for cosine similarity, ``L2`` for a Euclidean distance,
``rr`` for a re-ranked distance.  Every picture ranks by ``inner`` unless told otherwise
(:mod:`vireid.viz.files`), so ``vireid test --viz``, the demo and ``vireid visualize ranks``
show the same number for the same pair of images."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps

from vireid.data.records import Record
from vireid.errors import ShapeError, VireidError
from vireid.viz._mpl import picture_out, pyplot, save_figure
from vireid.viz.style import BAD, GOOD, styled

_DISTANCE_NAMES = {
    "inner": "-q.g (the distance vireid test scores)",
    "cosine": "cosine distance",
    "euclidean": "Euclidean distance",
    "sqeuclidean": "squared Euclidean distance",
}

#: metric -> (label under an image, how to show a distance d, caption text)
SCORES = {
    "inner": (
        "q.g {:.3f}",
        lambda d: -d,
        "q.g, the inner product of the query and gallery descriptors (higher = closer)",
    ),
    "cosine": ("cos {:.3f}", lambda d: 1.0 - d, "cos, the cosine similarity of the descriptors (higher = closer)"),
    "euclidean": ("L2 {:.3f}", lambda d: d, "L2, the Euclidean distance of the descriptors (lower = closer)"),
    "sqeuclidean": ("L2² {:.3f}", lambda d: d, "L2², the squared Euclidean distance (lower = closer)"),
    "rerank": ("rr {:.3f}", lambda d: d, "rr, the k-reciprocal re-ranked distance (lower = closer)"),
}


def order_text(metric: str, rerank: bool = False) -> str:
    """How a rank list is ordered, for its title: ``"order: cosine distance, re-ranked"``."""
    return f"order: {_DISTANCE_NAMES.get(metric, metric)}" + (", k-reciprocal re-ranked" if rerank else "")


def spread_queries(num_query: int, num: int) -> list[int]:
    """``num`` query indices spread evenly over ``range(num_query)``, first and last included."""
    n = max(1, min(num, num_query))
    return np.unique(np.linspace(0, num_query - 1, num=n).round().astype(int)).tolist()


def rank_lists(
    distmat: np.ndarray, query_indices: Sequence[int], topk: int, keep: np.ndarray | None = None
) -> list[np.ndarray]:
    """Per query, the indices of its ``topk`` nearest gallery items among those ``keep`` allows
    (all when ``None``); equal distances keep gallery order."""
    out = []
    for q in query_indices:
        d = np.asarray(distmat[q], dtype=np.float64)
        cols = np.arange(len(d)) if keep is None else np.flatnonzero(keep[q])
        out.append(cols[np.argsort(d[cols], kind="stable")[:topk]])
    return out


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _thumb(
    path: str, size: tuple[int, int], border: tuple[int, int, int] | None, listed_in: str | None = None
) -> np.ndarray:
    """The image at ``path`` as a thumbnail; one that cannot be read is named with the file that
    ``listed_in`` it (a features file's ``paths``), not as a path the user never gave."""
    from vireid.data.image import read_image

    try:
        img = read_image(path).resize((size[1], size[0]), Image.BILINEAR)
    except VireidError as exc:
        if listed_in is None:
            raise
        raise type(exc)(f"{listed_in}: an image its 'paths' metadata lists -- {exc}") from None
    if border is not None:
        img = ImageOps.expand(img.crop((4, 4, size[1] - 4, size[0] - 4)), border=4, fill=border)
    return np.asarray(img)


@styled
def rank_list_figure(
    distmat: np.ndarray,
    query_paths: Sequence[str],
    query_pids: Sequence[int],
    gallery_paths: Sequence[str],
    gallery_pids: Sequence[int],
    out: str | Path,
    *,
    topk: int = 10,
    query_indices: Sequence[int] | None = None,
    keep: np.ndarray | None = None,
    thumb_size: tuple[int, int] = (128, 64),
    title: str | None = None,
    metric: str = "inner",
    rerank: bool = False,
    listed_in: tuple[str, str] | None = None,
) -> Path:
    """Draw rank lists for ``query_indices`` (default: the first 5 queries) and save the picture.

    ``distmat`` (smaller = closer) is the ``metric`` distance, re-ranked if ``rerank``; the number
    under each image is its score in :data:`SCORES`' form, and a caption names it.  ``listed_in``:
    the files the query and gallery paths come from, named with an image that cannot be read."""
    picture_out(out)  # before any work
    distmat = np.asarray(distmat)
    if distmat.shape != (len(query_paths), len(gallery_paths)):
        raise ShapeError(
            f"distmat {distmat.shape} does not match {len(query_paths)} queries x {len(gallery_paths)} gallery images"
        )
    if keep is not None and np.shape(keep) != distmat.shape:
        raise ShapeError(f"keep mask {np.shape(keep)} does not match distmat {distmat.shape}")
    label, score, meaning = SCORES["rerank" if rerank else metric]
    qs = list(query_indices) if query_indices is not None else list(range(min(5, len(query_paths))))
    topk = min(topk, len(gallery_paths))
    lists = rank_lists(distmat, qs, topk, keep)
    plt = pyplot()
    fig, axes = plt.subplots(
        len(qs), topk + 1, figsize=(1.1 * (topk + 1), 2.2 * len(qs) + 0.6), squeeze=False, layout="constrained"
    )
    for row, (q, order) in enumerate(zip(qs, lists, strict=True)):
        d = distmat[q]
        ax = axes[row, 0]
        ax.imshow(_thumb(query_paths[q], thumb_size, None, listed_in and listed_in[0]))
        ax.set_title(f"query\npid {query_pids[q]}", fontsize=7)
        for col, g in enumerate(order, start=1):
            ok = gallery_pids[g] == query_pids[q]
            ax = axes[row, col]
            ax.imshow(_thumb(gallery_paths[g], thumb_size, _rgb(GOOD) if ok else _rgb(BAD), listed_in and listed_in[1]))
            ax.set_title(f"#{col}", fontsize=7)
            ax.set_xlabel(label.format(score(float(d[g]))), fontsize=7)
        for ax in axes[row, len(order) + 1 :]:  # the protocol left fewer than topk items
            ax.axis("off")
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.supxlabel(f"number under each image: {meaning}; green border: same identity, red: another", fontsize=7)
    return save_figure(fig, out)


def protocol_rank_figure(
    distmat: np.ndarray,
    query: Sequence[Record],
    gallery: Sequence[Record],
    out: str | Path,
    *,
    protocol: str = "plain",
    topk: int = 10,
    num_queries: int = 5,
    query_indices: Sequence[int] | None = None,
    title: str | None = None,
    metric: str = "inner",
    rerank: bool = False,
    listed_in: tuple[str, str] | None = None,
) -> Path:
    """Rank lists of ``query`` against ``gallery`` under ``protocol``'s rules (its keep mask).

    ``distmat`` is query x gallery (smaller = closer), the ``metric`` distance (re-ranked if
    ``rerank``); the queries drawn are ``query_indices`` or ``num_queries`` spread evenly over the
    query set (:func:`spread_queries`).
    """
    from vireid.evaluation.protocols import get_protocol

    picture_out(out)  # before any work
    keep = get_protocol(protocol).keep(
        [r.pid for r in query], [r.camid for r in query], [r.pid for r in gallery], [r.camid for r in gallery]
    )
    picks = list(query_indices) if query_indices is not None else spread_queries(len(query), num_queries)
    return rank_list_figure(
        np.asarray(distmat),
        [r.path for r in query],
        [r.pid for r in query],
        [r.path for r in gallery],
        [r.pid for r in gallery],
        out,
        topk=topk,
        query_indices=picks,
        keep=keep,
        title=title,
        metric=metric,
        rerank=rerank,
        listed_in=listed_in,
    )
