"""The DEEN training objective, composed term by term.

DEEN (Zhang & Wang, CVPR 2023, Eq. 11): ``L = L_id + L_tri + lambda_1 L_cpm + lambda_2 L_ort``
with lambda_1 = 0.8, lambda_2 = 0.01.  Mirrors ``DEEN/train.py``:

* the batch is ``P x K`` visible images and the ``P x K`` infrared images of the same
  identities in the same order (``label_vis == label_ir`` element-wise);
* the model returns ``E * 2PK`` embeddings, embedding-major
  ``[orig(vis, ir); gen1(vis, ir); gen2(vis, ir)]``; labels are ``cat(l_vis, l_ir)``
  repeated ``E`` times.  (The authors write ``cat(l1, l1, l1, l2, l2, l2)``, which is the
  same vector because their sampler pairs labels; ours is right for any pairing.)
* ``L_id``: cross-entropy of all ``E * 2PK`` logits; ``L_tri``: batch-hard triplet
  (margin 0.3) on all ``E * 2PK`` pooled features;
* ``L_cpm = sum_{e>=1} CPM(cat(orig, gen_e), cat(l, l))`` (two terms for DEEN, margin 0.2);
* ``L_ort``: the architecture's ``aux_losses["ort"]`` (computed in DEEN's forward).

Optional terms, all off by default: other ``aux_losses`` of expansion modules (weight
``aux_weights[name]``, default 1), ABD-Net SVDO O.F. on ``extras["of_features"]`` and O.W.
on ``model.ow_modules()`` (the weights are the betas), and a cross-modal InfoNCE: on SS-DEC's
branch embeddings (``extras["expansion_pooled"]``, :func:`ssdec_infonce`) when present, else on
the original embeddings.  ``metric_normalize`` (off, as DEEN) computes the triplet and CPM
terms on L2-normalised embeddings; on the from-scratch demo (difficulty 0.2, one trial) it
lowered Rank-1 from 51.5 % to 39.5 %, so it stays an option.  Every term is returned
*weighted*, separately, so it can be logged; the training loss is their sum.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.errors import ConfigError, ShapeError
from vireid.losses import (CPMLoss, FeatureOrthogonality, IdentityLoss, InfoNCE, TripletLoss,
                           WeightedRegularizedTriplet, WeightOrthogonality)
from vireid.models.base import TrainOutput


def _at_least_fp32(t: Tensor) -> Tensor:
    """Loss inputs in float32 (float64 stays float64, for precision references)."""
    return t if t.dtype == torch.float64 else t.float()


class DEENCriterion(nn.Module):
    """``forward(out, labels_vis, labels_ir, model=None) -> {term: weighted loss}``."""

    def __init__(self, *, id_weight: float = 1.0, label_smoothing: float = 0.0,
                 triplet: str = "batch_hard", triplet_weight: float = 1.0, triplet_margin: float = 0.3,
                 cpm_weight: float = 0.8, cpm_margin: float = 0.2, metric_normalize: bool = False,
                 ort_weight: float = 0.01,
                 aux_weights: Mapping[str, float] | None = None, svdo_of_weight: float = 0.0,
                 svdo_ow_weight: float = 0.0, infonce_weight: float = 0.0,
                 infonce_temperature: float = 0.1) -> None:
        super().__init__()
        self.id_weight, self.triplet_weight = float(id_weight), float(triplet_weight)
        self.cpm_weight, self.ort_weight = float(cpm_weight), float(ort_weight)
        self.metric_normalize = bool(metric_normalize)
        self.aux_weights = dict(aux_weights or {})
        self.id_loss = IdentityLoss(label_smoothing=label_smoothing)
        if triplet == "batch_hard":
            self.triplet: nn.Module | None = TripletLoss(margin=triplet_margin)
        elif triplet == "weighted":
            self.triplet = WeightedRegularizedTriplet()
        elif triplet == "none":
            self.triplet = None
        else:
            raise ConfigError(f"loss.triplet: unknown {triplet!r}; expected batch_hard, weighted or none")
        # the CPM layout check syncs with the device; the engine's sampler is tested instead
        self.cpm = CPMLoss(margin=cpm_margin, check_labels=False)
        self.of_weight, self.ow_weight = float(svdo_of_weight), float(svdo_ow_weight)
        self.of_loss = FeatureOrthogonality(beta=1.0) if self.of_weight > 0 else None
        # include_linear: DEEN's ow_modules() are convs, DEEN-ViT's are the blocks' Linear layers
        self.ow_loss = WeightOrthogonality(beta=1.0, include_linear=True) if self.ow_weight > 0 else None
        self.nce_weight = float(infonce_weight)
        self.nce = InfoNCE(temperature=infonce_temperature) if self.nce_weight > 0 else None

    def forward(self, out: TrainOutput, labels_vis: Tensor, labels_ir: Tensor,
                model: nn.Module | None = None) -> dict[str, Tensor]:
        feat, logits = _at_least_fp32(out.feat), _at_least_fp32(out.logits)
        m = labels_vis.shape[0] + labels_ir.shape[0]
        if feat.shape[0] % m:
            raise ShapeError(f"criterion: {feat.shape[0]} embeddings is not a multiple of the batch {m}")
        e = feat.shape[0] // m
        base = torch.cat((labels_vis, labels_ir)).long()
        labels = base.repeat(e)
        terms: dict[str, Tensor] = {"id": self.id_weight * self.id_loss(logits, labels)}
        metric = F.normalize(feat, dim=1) if self.metric_normalize else feat
        if self.triplet is not None:
            terms["tri"] = self.triplet_weight * self.triplet(metric, labels)
        chunks = metric.chunk(e, dim=0)
        if e > 1 and self.cpm_weight:
            pair_labels = torch.cat((base, base))
            cpm = sum(self.cpm(torch.cat((chunks[0], c)), pair_labels) for c in chunks[1:])
            terms["cpm"] = self.cpm_weight * cpm
        for name, value in out.aux_losses.items():
            w = self.ort_weight if name == "ort" else float(self.aux_weights.get(name, 1.0))
            if w:
                terms[name] = w * _at_least_fp32(value)
        if self.of_loss is not None:
            maps = out.extras.get("of_features")
            if maps is None:
                raise ConfigError("loss.svdo_of_weight > 0 but the model returns no 'of_features' "
                                  "(enable model.args.abd_cam)")
            terms["of"] = self.of_weight * self.of_loss(_at_least_fp32(maps))
        if self.ow_loss is not None:
            if model is None or not hasattr(model, "ow_modules"):
                raise ConfigError("loss.svdo_ow_weight > 0 but the model has no ow_modules()")
            terms["ow"] = self.ow_weight * self.ow_loss(model.ow_modules())
        if self.nce is not None:
            if "expansion_pooled" in out.extras:  # SS-DEC: InfoNCE on its branch embeddings
                from vireid.models.expansion.ssdec import ssdec_infonce

                modality = out.extras.get("modality")
                if modality is None:
                    modality = torch.cat((torch.zeros_like(labels_vis), torch.ones_like(labels_ir)))
                nce = ssdec_infonce(out.extras, base, modality, self.nce.temperature)
            else:
                n_vis = labels_vis.shape[0]
                nce = self.nce(chunks[0][:n_vis], chunks[0][n_vis:], labels_vis, labels_ir)
            terms["nce"] = self.nce_weight * nce
        return terms
