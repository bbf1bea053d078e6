"""The interface shared by every token expansion module of DEEN-ViT.

DEEN (Zhang & Wang, CVPR 2023, DEE module) expands one embedding into ``1 + K``
(K = 2) along the batch: ``torch.cat((x, x1, x2), 0)``.  Every module here
keeps that layout for ViT tokens so CPM, the triplet loss and the orthogonal
loss see the same embedding-major batch as in DEEN.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from vireid.errors import ShapeError
from vireid.modality import check_modality  # noqa: F401  (re-exported: the expansion modules' check)


class ExpansionOutput(NamedTuple):
    tokens: Tensor  # (B * (1 + K), N, C): input, then the K generated embeddings
    aux_losses: dict[str, Tensor]  # unweighted label-free losses of the module (e.g. "ort")
    branch_embeddings: Tensor | None = None  # (K, B, C) pooled generated embeddings, for losses outside


class TokenExpansion(nn.Module):
    """Takes tokens (B, N, C) and returns (B * (1 + K), N, C): the input followed by K generated embeddings, batch-major
    by embedding (cat along dim 0, like DEEN's DEE)."""

    num_generated: int  # K

    @property
    def aux_loss_names(self) -> tuple[str, ...]:
        """Names of the label-free losses ``forward`` returns in ``aux_losses``."""
        return ()

    def forward(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None = None) -> ExpansionOutput:
        """tokens: patch tokens only (no cls), (B, N, C) with N = grid_size[0] * grid_size[1];
        modality: (B,) long, 1 visible / 2 infrared (``vireid.models.base.MODAL_*``; None = unknown)."""
        raise NotImplementedError


def check_tokens(tokens: Tensor, grid_size: tuple[int, int], dim: int | None = None) -> None:
    """Raise :class:`ShapeError` unless ``tokens`` is (B, H*W, C) for ``grid_size = (H, W)`` (and C == dim)."""
    if not isinstance(tokens, Tensor) or tokens.dim() != 3:
        shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
        raise ShapeError(f"expansion: expected tokens of shape (B, N, C), got {shape}")
    h, w = grid_size
    if tokens.shape[1] != h * w:
        raise ShapeError(
            f"expansion: {tokens.shape[1]} tokens do not fill the {h}x{w} patch grid "
            f"(expected N = {h * w}; pass patch tokens only, without the cls token)"
        )
    if dim is not None and tokens.shape[2] != dim:
        raise ShapeError(f"expansion: expected {dim} channels, got {tokens.shape[2]}")


class IdentityExpansion(TokenExpansion):
    """``expansion="none"``: no generated embeddings (K = 0), tokens pass through unchanged."""

    num_generated = 0

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None = None) -> ExpansionOutput:
        check_tokens(tokens, grid_size, self.dim)
        return ExpansionOutput(tokens, {})
