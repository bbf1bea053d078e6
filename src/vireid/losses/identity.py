"""Identity (classification) loss for re-ID: cross-entropy with optional label smoothing.

Label smoothing follows Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016,
Sec. 7 (as used by BoT/AGW's ``CrossEntropyLabelSmooth``): the target is
``(1 - eps) * onehot + eps / K``. PyTorch's ``label_smoothing`` uses exactly this target,
so ``IdentityLoss(label_smoothing=eps)`` equals ``CrossEntropyLabelSmooth(K, eps)``.
With ``label_smoothing=0`` it is DEEN's ``nn.CrossEntropyLoss()``.
"""

from __future__ import annotations

from typing import Annotated

import torch.nn.functional as F
from torch import Tensor, nn

from vireid.core.params import UNIT_OPEN
from vireid.errors import ShapeError


class IdentityLoss(nn.Module):
    """Mean cross-entropy of ``logits`` (N, K) against integer ``labels`` (N,)."""

    def __init__(self, label_smoothing: Annotated[float, UNIT_OPEN] = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        if logits.dim() != 2 or labels.shape != logits.shape[:1]:
            raise ShapeError(
                f"IdentityLoss: expected logits (N, K) and labels (N,), got "
                f"{tuple(logits.shape)} and {tuple(labels.shape)}"
            )
        return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"
