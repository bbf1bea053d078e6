"""A loss term: every embedding pulled towards its identity's centre in the batch, both modalities
together (a cross-modal centre loss), beyond a margin."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from vireid.core.params import NON_NEGATIVE
from vireid.objective.terms import LossBatch, Term, at_least_fp32, register_term


@register_term("toy_center")
class CenterTerm(Term):
    """``mean_i max(0, |f_i - c_{y_i}|^2 - margin)``, ``c_y`` the mean of identity ``y``'s embeddings in
    the batch (visible and infrared); ``normalize``: on L2-normalised embeddings."""

    name = "center"  # logged as loss/center
    compares_samples = True  # the centres come from the whole batch (the global batch under torchrun)

    def __init__(self, margin: Annotated[float, NON_NEGATIVE] = 0.0, normalize: bool = True) -> None:
        super().__init__()
        self.margin, self.normalize = margin, normalize

    def forward(self, batch: LossBatch) -> Tensor:
        feat = at_least_fp32(batch.out.feat)
        feat = F.normalize(feat, dim=1) if self.normalize else feat
        labels = batch.labels
        ids, index = labels.unique(return_inverse=True)
        sums = feat.new_zeros(len(ids), feat.shape[1]).index_add_(0, index, feat)
        counts = torch.bincount(index, minlength=len(ids)).to(feat.dtype).unsqueeze(1)
        dist = (feat - (sums / counts)[index]).pow(2).sum(dim=1)
        return (dist - self.margin).clamp_min(0).mean()
