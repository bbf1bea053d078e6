"""t-SNE projection of visible and infrared descriptors (van der Maaten & Hinton, JMLR 2008).

Exact O(N^2) t-SNE in torch (fine for the few thousand points a figure shows): Gaussian
affinities calibrated to ``perplexity`` by bisection on each point's precision, symmetrised
P, Student-t Q, early exaggeration (x12 for the first 250 iterations) and gradient descent
with momentum (0.5 then 0.8), as in the paper.  Deterministic for a seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from vireid.errors import ShapeError
from vireid.viz._mpl import picture_out, pyplot, save_figure
from vireid.viz.style import styled


def _affinities(x: torch.Tensor, perplexity: float, iters: int = 50) -> torch.Tensor:
    d = torch.cdist(x, x).pow(2)
    n = x.shape[0]
    target = np.log(perplexity)
    lo = torch.full((n, 1), 1e-20, dtype=x.dtype)
    hi = torch.full((n, 1), 1e20, dtype=x.dtype)
    beta = torch.ones(n, 1, dtype=x.dtype)
    eye = torch.eye(n, dtype=torch.bool)
    for _ in range(iters):
        logits = (-d * beta).masked_fill(eye, float("-inf"))
        p = torch.softmax(logits, dim=1)
        entropy = -(p * torch.log(p.clamp_min(1e-30))).sum(1, keepdim=True)
        too_flat = entropy > target  # entropy too high -> increase precision
        lo = torch.where(too_flat, beta, lo)
        hi = torch.where(too_flat, hi, beta)
        beta = torch.where(hi >= 1e19, beta * 2, (lo + hi) / 2)
    p = torch.softmax((-d * beta).masked_fill(eye, float("-inf")), dim=1)
    p = (p + p.T) / (2 * n)
    return p.clamp_min(1e-12)


def tsne(
    x: np.ndarray | torch.Tensor,
    *,
    perplexity: float = 30.0,
    iterations: int = 750,
    learning_rate: float = 200.0,
    seed: int = 0,
) -> np.ndarray:
    """2-D t-SNE embedding of ``x`` (N, D)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if x.dim() != 2 or x.shape[0] < 3:
        raise ShapeError(f"t-SNE needs at least 3 points of shape (N, D), got {tuple(x.shape)}")
    perplexity = min(perplexity, (x.shape[0] - 1) / 3)
    p = _affinities(x, perplexity)
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(x.shape[0], 2, generator=g, dtype=torch.float64) * 1e-4
    velocity = torch.zeros_like(y)
    gains = torch.ones_like(y)
    eye = torch.eye(x.shape[0], dtype=torch.bool)
    for it in range(iterations):
        exag = 12.0 if it < 250 else 1.0
        num = 1.0 / (1.0 + torch.cdist(y, y).pow(2))
        num = num.masked_fill(eye, 0.0)
        q = (num / num.sum()).clamp_min(1e-12)
        w = (exag * p - q) * num
        grad = 4.0 * (torch.diag(w.sum(1)) - w) @ y
        momentum = 0.5 if it < 250 else 0.8
        same = (grad > 0) == (velocity > 0)
        gains = torch.where(same, gains * 0.8, gains + 0.2).clamp_min(0.01)
        velocity = momentum * velocity - learning_rate * gains * grad
        y = y + velocity
        y = y - y.mean(0)
    return y.numpy()


@styled
def tsne_figure(
    feats: np.ndarray,
    pids: Sequence[int],
    modalities: Sequence[str],
    out: str | Path,
    *,
    perplexity: float = 30.0,
    seed: int = 0,
    max_ids: int = 20,
    title: str | None = None,
) -> Path:
    """Scatter of a t-SNE of descriptors: colour = identity, marker = modality (o visible, ^ infrared).

    At most ``max_ids`` identities (the first ones in sorted order) are drawn so colours stay readable.
    """
    picture_out(out)  # before any work
    feats = np.asarray(feats)
    pids = np.asarray(pids)
    mods = np.asarray(modalities)
    if not (len(feats) == len(pids) == len(mods)):
        raise ShapeError(f"{len(feats)} features, {len(pids)} pids and {len(mods)} modalities differ")
    chosen = np.unique(pids)[:max_ids]
    sel = np.isin(pids, chosen)
    y = tsne(feats[sel], perplexity=perplexity, seed=seed)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    cmap = plt.get_cmap("tab20", max(len(chosen), 1))
    colour = {pid: cmap(i) for i, pid in enumerate(chosen)}
    from matplotlib.lines import Line2D

    handles = []
    for modality, marker in (("visible", "o"), ("infrared", "^")):
        m = mods[sel] == modality
        if not m.any():
            continue
        ax.scatter(
            y[m, 0], y[m, 1], c=[colour[p] for p in pids[sel][m]], marker=marker, s=22, edgecolors="k", linewidths=0.3
        )
        # the legend explains the marker only, in a neutral colour: colour is the identity
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker=marker,
                markerfacecolor="white",
                markeredgecolor="k",
                markersize=6,
                label=f"{modality} ({int(m.sum())} images)",
            )
        )
    ax.legend(
        handles=handles,
        loc="best",
        fontsize=8,
        title_fontsize=8,
        title=f"marker: modality\ncolour: identity ({len(chosen)} shown)",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("t-SNE dimension 1", fontsize=8)
    ax.set_ylabel("t-SNE dimension 2", fontsize=8)
    ax.set_title(title or "t-SNE of descriptors (one colour per identity, marker = modality)", fontsize=9)
    return save_figure(fig, out)
