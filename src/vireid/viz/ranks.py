"""Rank-list pictures: each query with its top-k gallery images of the other modality.

Correct matches (same pid) get a green border, wrong ones red; the distance is printed
under each gallery image.  Cameras filtered out by the protocol (e.g. SYSU's cam3 -> cam2
rule) can be removed by passing ``keep`` (a boolean query x gallery mask).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps

from vireid.errors import ShapeError
from vireid.viz._mpl import pyplot, save_figure


def _thumb(path: str, size: tuple[int, int], border: tuple[int, int, int] | None) -> np.ndarray:
    from vireid.data.image import read_image

    img = read_image(path).resize((size[1], size[0]), Image.BILINEAR)
    if border is not None:
        img = ImageOps.expand(img.crop((4, 4, size[1] - 4, size[0] - 4)), border=4, fill=border)
    return np.asarray(img)


def rank_list_figure(distmat: np.ndarray, query_paths: Sequence[str], query_pids: Sequence[int],
                     gallery_paths: Sequence[str], gallery_pids: Sequence[int], out: str | Path, *,
                     topk: int = 10, query_indices: Sequence[int] | None = None, keep: np.ndarray | None = None,
                     thumb_size: tuple[int, int] = (128, 64), title: str | None = None) -> Path:
    """Draw rank lists for ``query_indices`` (default: the first 5 queries) and save a PNG."""
    distmat = np.asarray(distmat)
    if distmat.shape != (len(query_paths), len(gallery_paths)):
        raise ShapeError(f"distmat {distmat.shape} does not match {len(query_paths)} queries x "
                         f"{len(gallery_paths)} gallery images")
    qs = list(query_indices) if query_indices is not None else list(range(min(5, len(query_paths))))
    topk = min(topk, len(gallery_paths))
    plt = pyplot()
    fig, axes = plt.subplots(len(qs), topk + 1, figsize=(1.1 * (topk + 1), 2.3 * len(qs)), squeeze=False)
    for row, q in enumerate(qs):
        d = distmat[q].astype(np.float64).copy()
        if keep is not None:
            d[~keep[q]] = np.inf
        order = np.argsort(d, kind="stable")[:topk]
        ax = axes[row, 0]
        ax.imshow(_thumb(query_paths[q], thumb_size, None))
        ax.set_title(f"query\npid {query_pids[q]}", fontsize=7)
        for col, g in enumerate(order, start=1):
            ok = gallery_pids[g] == query_pids[q]
            ax = axes[row, col]
            ax.imshow(_thumb(gallery_paths[g], thumb_size, (0, 170, 0) if ok else (220, 0, 0)))
            ax.set_title(f"#{col}", fontsize=7)
            ax.set_xlabel(f"{d[g]:.3f}", fontsize=7)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, out)
