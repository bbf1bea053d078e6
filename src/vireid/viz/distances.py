"""Intra- and inter-identity distance histograms, within- and cross-modality (as in the DEEN paper's
visualisation): four distributions of pairwise Euclidean distances between L2-normalised descriptors."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from vireid.errors import ShapeError
from vireid.viz._mpl import picture_out, pyplot, save_figure
from vireid.viz.style import BAD, GOOD, styled


def pair_distances(feats: np.ndarray, pids: Sequence[int], modalities: Sequence[str]) -> dict[str, np.ndarray]:
    """Distances of all unordered pairs, split into ``{intra,inter}_{within,cross}``."""
    x = torch.nn.functional.normalize(torch.as_tensor(np.asarray(feats), dtype=torch.float32), dim=1)
    pids = np.asarray(pids)
    mods = np.asarray(modalities)
    if not (len(x) == len(pids) == len(mods)):
        raise ShapeError(f"{len(x)} features, {len(pids)} pids and {len(mods)} modalities differ")
    d = torch.cdist(x, x).numpy()
    iu = np.triu_indices(len(x), k=1)
    same_id = (pids[:, None] == pids[None, :])[iu]
    same_mod = (mods[:, None] == mods[None, :])[iu]
    dist = d[iu]
    return {
        "intra_within": dist[same_id & same_mod],
        "inter_within": dist[~same_id & same_mod],
        "intra_cross": dist[same_id & ~same_mod],
        "inter_cross": dist[~same_id & ~same_mod],
    }


@styled
def distance_histogram_figure(
    feats: np.ndarray,
    pids: Sequence[int],
    modalities: Sequence[str],
    out: str | Path,
    *,
    bins: int = 60,
    title: str | None = None,
) -> Path:
    picture_out(out)  # before any work
    parts = pair_distances(feats, pids, modalities)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
    for ax, kind in zip(axes, ("within", "cross"), strict=True):
        drawn = False
        for who, colour in (("intra", GOOD), ("inter", BAD)):
            v = parts[f"{who}_{kind}"]
            if len(v):
                drawn = True
                ax.hist(
                    v,
                    bins=bins,
                    density=True,
                    alpha=0.55,
                    color=colour,
                    label=f"{who}-identity (n={len(v)}, mean {v.mean():.3f})",
                )
        ax.set_title(f"{kind}-modality pairs", fontsize=9)
        ax.set_xlabel("Euclidean distance of L2-normalised descriptors", fontsize=8)
        ax.set_ylabel("density (each histogram integrates to 1)", fontsize=8)
        if drawn:
            ax.legend(fontsize=7)
        else:  # e.g. one modality only: no cross-modality pairs
            ax.text(0.5, 0.5, f"no {kind}-modality pairs", ha="center", va="center", transform=ax.transAxes, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, out)
