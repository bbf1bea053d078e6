"""Cross-modal supervised InfoNCE, the contrastive loss of the SS-DEC module (ViT family).

InfoNCE (van den Oord et al., "Representation Learning with Contrastive Predictive Coding",
arXiv:1807.03748, Eq. (4)) in its supervised multi-positive form (Khosla et al., "Supervised
Contrastive Learning", NeurIPS 2020, Eq. (2), L_out), restricted to *cross-modal* pairs:
each visible embedding is an anchor whose candidates are all infrared embeddings; the
infrared ones with the same identity are its positives (and symmetrically infrared ->
visible).  With cosine similarities ``s = <v, r> / (|v||r| T)``:

    L_{v->r}(i) = -1/|P(i)| sum_{j in P(i)} log( exp(s_ij) / sum_k exp(s_ik) )

averaged over the anchors that have at least one positive; the loss is the mean of the two
directions.  Choices (docs/deen_vit.md, "SS-DEC"): L2-normalised embeddings, the
log-probability averaged over positives outside the log (SupCon's L_out, the better of its
two variants), anchors without a cross-modal positive skipped; if no anchor has one the
loss is 0 (still connected to the graph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.errors import ShapeError
from vireid.modality import MODAL_VISIBLE, check_modality


def _directional(logits: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
    """Summed per-anchor loss over anchors with positives, and their count."""
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    num_pos = pos.sum(dim=1)
    valid = num_pos > 0
    per_anchor = -(log_prob * pos).sum(dim=1) / num_pos.clamp(min=1)
    return (per_anchor * valid).sum(), valid.sum()


class InfoNCE(nn.Module):
    """``forward(feat_vis (Nv, D), feat_ir (Ni, D), labels_vis (Nv,), labels_ir (Ni,))``."""

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, feat_vis: Tensor, feat_ir: Tensor, labels_vis: Tensor, labels_ir: Tensor) -> Tensor:
        if (
            feat_vis.dim() != 2
            or feat_ir.dim() != 2
            or feat_vis.shape[1] != feat_ir.shape[1]
            or labels_vis.shape != feat_vis.shape[:1]
            or labels_ir.shape != feat_ir.shape[:1]
        ):
            raise ShapeError(
                "InfoNCE: expected feat_vis (Nv, D), feat_ir (Ni, D), labels_vis (Nv,), labels_ir (Ni,); "
                f"got {tuple(feat_vis.shape)}, {tuple(feat_ir.shape)}, {tuple(labels_vis.shape)}, "
                f"{tuple(labels_ir.shape)}"
            )
        v = F.normalize(feat_vis, dim=1)
        r = F.normalize(feat_ir, dim=1)
        logits = v @ r.t() / self.temperature  # (Nv, Ni)
        pos = (labels_vis[:, None] == labels_ir[None, :]).to(logits.dtype)
        s_vr, n_vr = _directional(logits, pos)
        s_rv, n_rv = _directional(logits.t(), pos.t())
        # sums are 0 (and still in the graph) when a direction has no valid anchor
        return (s_vr / n_vr.clamp(min=1) + s_rv / n_rv.clamp(min=1)) / 2

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


def branch_infonce(branch_embeddings: Tensor, labels: Tensor, modality: Tensor, temperature: float = 0.07) -> Tensor:
    """Cross-modal InfoNCE on each of K generated embeddings, averaged over the K branches (SS-DEC).

    ``branch_embeddings``: (K, B, C) pooled generated embeddings; ``labels``: (B,) identities and
    ``modality``: (B,) 1 visible / 2 infrared of the same batch.  Per branch, visible anchors rank
    all infrared embeddings (and vice versa); same-identity ones are the positives
    (:class:`InfoNCE`).  0 (in the graph) if no identity appears in both modalities.
    """
    if not isinstance(branch_embeddings, Tensor) or branch_embeddings.dim() != 3:
        got = (
            tuple(branch_embeddings.shape)
            if isinstance(branch_embeddings, Tensor)
            else type(branch_embeddings).__name__
        )
        raise ShapeError(f"branch_infonce: expected branch embeddings of shape (K, B, C), got {got}")
    b = branch_embeddings.shape[1]
    if not isinstance(labels, Tensor) or labels.shape != (b,):
        got = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ShapeError(f"branch_infonce: expected labels of shape ({b},), got {got}")
    check_modality(modality, b)
    vis = modality == MODAL_VISIBLE
    ir = ~vis
    crit = InfoNCE(temperature)
    return torch.stack([crit(z[vis], z[ir], labels[vis], labels[ir]) for z in branch_embeddings]).mean()
