"""DEEN's orthogonal loss between the generated embeddings.

Zhang & Wang, CVPR 2023, the orthogonal loss L_ort of the DEE module (the paper's section on
diverse embedding expansion), as ``loss_ort`` in the forward of the authors' ``DEEN/model.py``:
with pooled features stacked embedding-major ``[e_0; e_1; e_2]`` (original, first and second
DEE expansion), each ``(B, C)``,

    L_ort = sum_b sum_{1 <= i < j < E} <e_i[b], e_j[b]> / (E * B)

i.e. the raw (not normalised, not absolute) inner products of the *generated* embeddings of
each sample, summed, divided by the whole stacked batch size ``E * B``.  For ``E = 3`` this
is their ``triu(bmm(xpss, xpss^T), 1).sum() / xp.size(0)`` exactly.  The original embedding
``e_0`` is not involved.  Exposed as a function so other models (ViT family) can reuse it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vireid.errors import ShapeError


def deen_orthogonal_loss(pooled_maps_or_feats: Tensor, num_embeddings: int = 3, *, absolute: bool = False) -> Tensor:
    """L_ort of pooled features ``(E*B, C)`` or pooled maps ``(E*B, C, 1, 1)``.

    ``absolute=False`` is DEEN's loss exactly (raw inner products, meaningful for post-ReLU,
    non-negative CNN features).  ``absolute=True`` sums ``|<g_i, g_j>|`` instead: identical on
    non-negative features, and bounded below (minimum at orthogonality) on signed features
    such as pooled ViT tokens, where the raw form can be driven to -inf.
    """
    x = pooled_maps_or_feats
    if x.dim() == 4 and x.shape[2:] == (1, 1):
        x = x.flatten(1)
    if x.dim() != 2 or num_embeddings < 2 or x.shape[0] % num_embeddings:
        raise ShapeError(
            f"deen_orthogonal_loss: expected (E*B, C) or (E*B, C, 1, 1) with E={num_embeddings} "
            f">= 2 dividing the batch, got {tuple(pooled_maps_or_feats.shape)}"
        )
    total = x.shape[0]
    gen = x.reshape(num_embeddings, total // num_embeddings, -1)[1:]  # (E-1, B, C)
    # per-sample Gram of the generated embeddings (tiny: (E-1) x (E-1)), as the authors' bmm
    gram = gen.permute(1, 0, 2) @ gen.permute(1, 2, 0)  # (B, E-1, E-1)
    upper = gram.triu(diagonal=1)
    return (upper.abs() if absolute else upper).sum() / total


def branch_orthogonal_loss(generated: Tensor, absolute: bool = True) -> Tensor:
    """DEEN's orthogonal loss (CVPR 2023, L_ort of the DEE module) between K pooled embeddings ``(K, B, C)``.

    ``absolute=False`` is DEEN's loss exactly (:func:`vireid.losses.orthogonal.deen_orthogonal_loss`:
    raw inner products of pairs of generated embeddings, summed, divided by the stacked batch
    ``(1 + K) * B``).  DEEN applies it to post-ReLU (non-negative) CNN features, where the inner
    products are >= 0.  Pooled ViT tokens are signed, and the raw loss is then unbounded below (two
    branches can grow anti-parallel), so by default (``absolute=True``) we sum ``|<g_i, g_j>|``
    instead: identical to DEEN's on non-negative features, >= 0 with its minimum at orthogonality.
    """
    k, b, c = generated.shape
    if k < 2:
        return generated.sum() * 0.0
    stacked = torch.cat([generated.new_zeros(1, b, c), generated], 0).reshape(-1, c)
    return deen_orthogonal_loss(stacked, num_embeddings=k + 1, absolute=absolute)
