"""DEEN's center-guided pair mining (CPM) loss.

Zhang & Wang, "Diverse Embedding Expansion Network and Low-Light Cross-Modality Benchmark
for Visible-Infrared Person Re-identification", CVPR 2023 (the paper's section on the
center-guided pair mining loss), as implemented in the authors' ``DEEN/loss.py``
(``CPMLoss``).  Vectorised: no loop over identities.

Input convention (the authors'): ``features`` is the concatenation along the batch of four
equal chunks ``[f1; f2; f3; f4]`` -- in DEEN's ``train.py`` visible, infrared, visible
expansion, infrared expansion, i.e. ``cat((ft1, ftk))`` with ``ft1 = [vis; ir]`` the
original embeddings and ``ftk`` one generated embedding -- and ``labels`` likewise.  Each
chunk holds ``P`` identities as ``P`` contiguous blocks of ``K`` samples, in the same
identity order in every chunk (what DEEN's ``IdentitySampler`` produces).

What is computed, exactly as the authors' code:

* per-identity centres ``c_j[p]`` = mean of block ``p`` of chunk ``j`` (``j = 1..4``);
* ``d_jk`` = Euclidean distances between centres (``|a|^2 + |b|^2 - 2ab``, clamp 1e-12,
  sqrt);
* for the 1-2-3 triple: positive ``d_23[p, p]``, cross negative ``d_13[p, p]`` (detached),
  intra negatives ``min_{q != p} d_33[p, q]`` and ``min_{q != p} d_11[p, q]``;
  ``L_123 = R(d_13, d_23) + (R(d_33^-, d_23) + R(d_11^-, d_23)) / 2`` with
  ``R(n, p) = mean(max(0, p - n + margin))``;
* symmetric 1-2-4 triple: positive ``d_14[p, p]``, cross negative ``d_24[p, p]`` (detached),
  intra negatives from ``d_44`` and ``d_22``;
* loss ``(L_123 + L_124) / 2``.

The authors' code builds its "hardest" pairs with a mask of unique labels, which is the
identity matrix, so the positive/cross-negative terms use the same-identity centre pair.
Their ``MarginRankingLoss`` is hard-wired to 0.2 whatever ``margin`` says; ours uses
``margin`` (default 0.2, identical).
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.core.params import NON_NEGATIVE
from vireid.errors import ShapeError
from vireid.losses.triplet import euclidean_dist


def _rank(neg: Tensor, pos: Tensor, margin: float) -> Tensor:
    return F.margin_ranking_loss(neg, pos, torch.ones_like(neg), margin=margin)


def _intra_min(dist: Tensor) -> Tensor:
    """Per-row minimum distance to a *different* identity centre."""
    eye = torch.eye(dist.shape[0], dtype=torch.bool, device=dist.device)
    return dist.masked_fill(eye, float("inf")).amin(dim=1)


class CPMLoss(nn.Module):
    """Center-guided pair mining loss; ``forward(features (4n, D), labels (4n,))``.

    ``check_labels=True`` verifies the batch layout (four aligned chunks of ``P`` identity
    blocks of equal size) and raises :class:`~vireid.errors.ShapeError` otherwise; the
    authors' code silently computes a meaningless value on such batches.  The check costs a
    host-device synchronisation; turn it off once your sampler is known to be right.
    """

    def __init__(self, margin: Annotated[float, NON_NEGATIVE] = 0.2, check_labels: bool = True) -> None:
        super().__init__()
        self.margin = float(margin)
        self.check_labels = bool(check_labels)

    def centers(self, features: Tensor, labels: Tensor) -> Tensor:
        """Per-identity centres of each chunk, shape (4, P, D)."""
        if features.dim() != 2 or labels.shape != features.shape[:1] or features.shape[0] % 4:
            raise ShapeError(
                "CPMLoss: expected features (4n, D) and labels (4n,) -- four equal chunks "
                f"(visible, infrared, and their expansions); got {tuple(features.shape)} "
                f"and {tuple(labels.shape)}"
            )
        n = features.shape[0] // 4
        num_ids = int(labels[:n].unique().numel())
        if num_ids < 2 or n % num_ids:
            raise ShapeError(
                f"CPMLoss: each chunk of {n} samples must hold P >= 2 identities in blocks of "
                f"equal size; the first chunk has {num_ids} identities"
            )
        k = n // num_ids
        if self.check_labels:
            blocks = labels.reshape(4, num_ids, k)
            if not bool((blocks == blocks[:1, :, :1]).all()):
                raise ShapeError(
                    f"CPMLoss: labels must form {num_ids} contiguous blocks of {k} equal labels, "
                    "in the same identity order in all four chunks (DEEN's IdentitySampler layout)"
                )
        return features.reshape(4, num_ids, k, -1).mean(dim=2)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        c1, c2, c3, c4 = self.centers(features, labels).unbind(0)
        m = self.margin
        pos_123 = euclidean_dist(c2, c3).diagonal()
        neg_123 = euclidean_dist(c1, c3).diagonal().detach()
        pos_124 = euclidean_dist(c1, c4).diagonal()
        neg_124 = euclidean_dist(c2, c4).diagonal().detach()
        neg_33 = _intra_min(euclidean_dist(c3, c3))
        neg_11 = _intra_min(euclidean_dist(c1, c1))
        neg_44 = _intra_min(euclidean_dist(c4, c4))
        neg_22 = _intra_min(euclidean_dist(c2, c2))
        loss_123 = _rank(neg_123, pos_123, m) + 0.5 * (_rank(neg_33, pos_123, m) + _rank(neg_11, pos_123, m))
        loss_124 = _rank(neg_124, pos_124, m) + 0.5 * (_rank(neg_44, pos_124, m) + _rank(neg_22, pos_124, m))
        return (loss_123 + loss_124) / 2

    def extra_repr(self) -> str:
        return f"margin={self.margin}, check_labels={self.check_labels}"
