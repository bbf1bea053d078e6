"""Triplet losses: batch-hard triplet and AGW's weighted regularized triplet (WRT).

* :class:`TripletLoss` -- Hermans et al., "In Defense of the Triplet Loss for Person
  Re-Identification", arXiv:1703.07737, Eq. (5) (batch-hard, hinge), as DEEN's and AGW's
  ``OriTripletLoss``: Euclidean distances, hardest positive (the anchor itself included,
  at distance ``sqrt(1e-12)``) and hardest negative per anchor, ``MarginRankingLoss``.
* :class:`WeightedRegularizedTriplet` -- Ye et al., "Deep Learning for Person
  Re-identification: A Survey and Outlook" (AGW), TPAMI 2021, Eq. (7): softmax-weighted
  positive/negative distances and a soft-margin (softplus) loss, as AGW's ``TripletLoss_WRT``.

The authors' modules return ``(loss, correct)`` (AGW) or ``loss`` (DEEN); ours return the loss
only -- use :func:`triplet_correct` for the accuracy count. Fully vectorised (no loop over
anchors).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.errors import ShapeError


def euclidean_dist(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise Euclidean distances (M, N) between rows of ``a`` (M, D) and ``b`` (N, D).

    Uses the expansion ``|a|^2 + |b|^2 - 2 a.b`` clamped at 1e-12 before the square root,
    the same arithmetic as the authors' ``pdist_torch`` (so results agree to rounding).
    """
    sq_a = a.pow(2).sum(dim=1, keepdim=True)
    sq_b = b.pow(2).sum(dim=1, keepdim=True).t()
    return torch.addmm(sq_a + sq_b, a, b.t(), beta=1, alpha=-2).clamp(min=1e-12).sqrt()


def _check(features: Tensor, labels: Tensor, name: str) -> None:
    if features.dim() != 2 or labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ShapeError(
            f"{name}: expected features (N, D) and labels (N,), got {tuple(features.shape)} and {tuple(labels.shape)}"
        )


def batch_hard_distances(features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Per-anchor hardest positive and hardest negative distances, each (N,)."""
    _check(features, labels, "batch_hard_distances")
    dist = euclidean_dist(features, features)
    same = labels[:, None] == labels[None, :]
    if bool(same.all()):
        raise ShapeError("triplet loss: the batch has a single identity; no negatives to mine")
    inf = torch.tensor(float("inf"), dtype=dist.dtype, device=dist.device)
    dist_ap = torch.where(same, dist, -inf).amax(dim=1)
    dist_an = torch.where(same, inf, dist).amin(dim=1)
    return dist_ap, dist_an


def triplet_correct(dist_ap: Tensor, dist_an: Tensor) -> int:
    """Number of anchors with ``d(a, n) >= d(a, p)`` (the authors' ``correct``)."""
    return int((dist_an >= dist_ap).sum().item())


class TripletLoss(nn.Module):
    """Batch-hard triplet loss ``mean_i max(0, d_ap(i) - d_an(i) + margin)``."""

    def __init__(self, margin: float = 0.3) -> None:
        super().__init__()
        self.margin = float(margin)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        dist_ap, dist_an = batch_hard_distances(features, labels)
        return F.margin_ranking_loss(dist_an, dist_ap, torch.ones_like(dist_an), margin=self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


#: softplus is computed as ``log1p(exp(z))`` up to here (SoftMarginLoss's formula, exactly) and as
#: ``z`` above: float32 ``exp`` overflows past 88.7
SOFTPLUS_LINEAR_ABOVE = 80.0


def _masked_softmax_weights(dist: Tensor, mask: Tensor) -> Tensor:
    """AGW's ``softmax_weights``: softmax of ``dist`` over ``mask`` with a 1e-6 stabiliser.

    The shift is the row max of ``dist * mask`` (masked-out entries count as 0), as in AGW;
    it matters only through the ``+1e-6`` in the denominator, kept for parity.
    """
    max_v = (dist * mask).amax(dim=1, keepdim=True)
    e = torch.exp(dist - max_v) * mask
    return e / (e.sum(dim=1, keepdim=True) + 1e-6)


def wrt_distances(features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax-weighted furthest-positive and closest-negative distances, each (N,)."""
    _check(features, labels, "wrt_distances")
    dist = euclidean_dist(features, features)
    same = labels[:, None] == labels[None, :]
    is_pos, is_neg = same.to(dist.dtype), (~same).to(dist.dtype)
    dist_ap, dist_an = dist * is_pos, dist * is_neg
    furthest_positive = (dist_ap * _masked_softmax_weights(dist_ap, is_pos)).sum(dim=1)
    closest_negative = (dist_an * _masked_softmax_weights(-dist_an, is_neg)).sum(dim=1)
    return furthest_positive, closest_negative


class WeightedRegularizedTriplet(nn.Module):
    """AGW's WRT: ``mean_i softplus(d_p(i) - d_n(i))`` with softmax-weighted distances.

    ``normalize_feature=True`` L2-normalises features first (AGW's ``x / (|x| + 1e-12)``).
    Reproduced quirk of AGW's code: the negative weights are ``exp(-d) / (sum exp(-d) + 1e-6)``
    (the shift is 0, from the masked-out entries), so once all negative distances exceed
    ~14 the weights vanish, ``d_n -> 0`` and the loss is ~``mean d_p``.  This happens on raw
    2048-d pooled features (see the golden fixture: loss ~38.7); normalise them first there.
    """

    def __init__(self, normalize_feature: bool = False) -> None:
        super().__init__()
        self.normalize_feature = bool(normalize_feature)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        if self.normalize_feature:
            features = features / (features.norm(p=2, dim=-1, keepdim=True) + 1e-12)
        fp, cn = wrt_distances(features, labels)
        # AGW's SoftMarginLoss(cn - fp, 1) = mean log(1 + exp(fp - cn)), as softplus: the same formula
        # up to fp - cn = 80, linear above (where log(1 + exp(z)) = z to the last bit), so finite where
        # exp overflows (fp - cn > 88 in float32: e.g. features of random weights, where AGW's code
        # gives inf at the first step)
        return F.softplus(fp - cn, threshold=SOFTPLUS_LINEAR_ABOVE).mean()

    def extra_repr(self) -> str:
        return f"normalize_feature={self.normalize_feature}"
