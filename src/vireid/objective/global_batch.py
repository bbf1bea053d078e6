"""The global batch of a ``torchrun`` job, for the loss terms that compare samples.

With the authors' batch split over W processes (``data.per_rank_batch: false``), each rank
holds ``P / W`` identities.  Batch-hard triplet mining, CPM's identity centres and a
cross-modal InfoNCE must see all ``P``: :func:`gather_batch` all-gathers the embeddings *with*
gradient (:func:`vireid.utils.collectives.all_gather`) and lays them out as one
process would hold them -- per embedding, every rank's visible samples then every rank's
infrared samples -- so each term computes exactly the one-process value.

Loss scale: every rank computes the same global value ``L``; the all-gather's backward sums
the W ranks' gradients for each rank's own samples (W dL/dx) and DDP averages the parameter
gradients over the ranks (1/W), so the update is the gradient of ``L``, as on one GPU.  Terms
over the rank's own batch (identity, DEEN's orthogonal loss: means over samples) need no
gathering: DDP's average of the per-rank means is the global mean.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vireid.objective.terms import LossBatch
from vireid.utils.collectives import all_gather as _gather
from vireid.utils.collectives import all_reduce_sum, world_size

__all__ = ["gather_batch", "global_mean", "world_size"]


def _regroup(parts: list[Tensor], groups: int, n_vis: int, dim: int = 0) -> Tensor:
    """Rank tensors of ``groups`` blocks of ``[vis (n_vis); ir]`` along ``dim`` -> one tensor whose
    blocks are ``[vis of every rank; ir of every rank]``, in rank order."""
    per_rank = [p.movedim(dim, 0) for p in parts]
    m = per_rank[0].shape[0] // groups
    blocks = []
    for g in range(groups):
        rows = [p[g * m : (g + 1) * m] for p in per_rank]
        blocks += [r[:n_vis] for r in rows] + [r[n_vis:] for r in rows]
    return torch.cat(blocks).movedim(0, dim)


def gather_batch(batch: LossBatch) -> LossBatch:
    """``batch`` of every rank in the one-process layout (see the module docstring).

    Gathered: the embeddings (``feat``), the labels, ``modality`` and ``branch_embeddings``;
    the other fields stay this rank's (the terms using them run on the rank's own batch).
    """
    out = batch.out
    n_vis = batch.labels_vis.shape[0]
    e = batch.num_embeddings
    fields = {"feat": _regroup(_gather(out.feat), e, n_vis)}
    if out.modality is not None:
        fields["modality"] = _regroup(_gather(out.modality), 1, n_vis)
    if out.branch_embeddings is not None:
        fields["branch_embeddings"] = _regroup(_gather(out.branch_embeddings), 1, n_vis, dim=1)
    labels_vis = torch.cat(_gather(batch.labels_vis))
    labels_ir = torch.cat(_gather(batch.labels_ir))
    return LossBatch(out._replace(**fields), labels_vis, labels_ir)


def global_mean(values: list[Tensor]) -> list[Tensor]:
    """Each scalar replaced by its mean over the ranks *in value only*: the gradient stays the
    rank's own (which DDP averages), so logged terms equal the one-process values."""
    if not values:
        return values
    local = torch.stack([v.detach().float() for v in values])
    mean = all_reduce_sum(local) / world_size()
    return [v + (m - d).to(v.dtype) for v, m, d in zip(values, mean, local, strict=True)]
