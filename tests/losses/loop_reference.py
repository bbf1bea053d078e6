"""Straightforward per-identity / per-anchor loop implementations (second references).

Written from the papers' definitions (DEEN Eqs. 6-8, Hermans et al. Eq. 5), deliberately
naive: Python loops, distances as ``|a - b|``.  Used by the tests (agreement with the
vectorised losses) and by ``benchmarks/bench_losses.py`` (the speed baseline).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _hinge(neg: Tensor, pos: Tensor, margin: float) -> Tensor:
    return torch.clamp(pos - neg + margin, min=0)


def loop_triplet(features: Tensor, labels: Tensor, margin: float = 0.3) -> Tensor:
    terms = []
    for i in range(features.shape[0]):
        d = (features - features[i]).pow(2).sum(dim=1).clamp(min=1e-12).sqrt()
        same = labels == labels[i]
        terms.append(_hinge(d[~same].min(), d[same].max(), margin))
    return torch.stack(terms).mean()


def loop_cpm(features: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    chunks = features.chunk(4, dim=0)
    lab1 = labels.chunk(4, dim=0)[0]
    ids = []
    for lab in lab1.tolist():  # identities in batch order
        if lab not in ids:
            ids.append(lab)
    centres = [torch.stack([c[lab1 == pid].mean(dim=0) for pid in ids]) for c in chunks]

    def dist(a: Tensor, b: Tensor) -> Tensor:
        return (a - b).pow(2).sum().clamp(min=1e-12).sqrt()

    def intra_min(c: Tensor, p: int) -> Tensor:
        return torch.stack([dist(c[p], c[q]) for q in range(len(ids)) if q != p]).min()

    c1, c2, c3, c4 = centres
    l123, l124 = [], []
    for p in range(len(ids)):
        pos = dist(c2[p], c3[p])
        t = _hinge(dist(c1[p], c3[p]).detach(), pos, margin)
        t = t + 0.5 * (_hinge(intra_min(c3, p), pos, margin) + _hinge(intra_min(c1, p), pos, margin))
        l123.append(t)
        pos = dist(c1[p], c4[p])
        t = _hinge(dist(c2[p], c4[p]).detach(), pos, margin)
        t = t + 0.5 * (_hinge(intra_min(c4, p), pos, margin) + _hinge(intra_min(c2, p), pos, margin))
        l124.append(t)
    return (torch.stack(l123).mean() + torch.stack(l124).mean()) / 2
