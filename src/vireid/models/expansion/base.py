"""The interface shared by every token expansion module of DEEN-ViT.

DEEN (Zhang & Wang, CVPR 2023, DEE module) expands one embedding into ``1 + K``
(K = 2) along the batch: ``torch.cat((x, x1, x2), 0)``.  Every module here
keeps that layout for ViT tokens so CPM, the triplet loss and the orthogonal
loss see the same embedding-major batch as in DEEN.
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

import torch
from torch import Tensor, nn

from vireid.core.params import Range, declared_params
from vireid.core.registry import Entry, registry
from vireid.errors import PluginError, ShapeError
from vireid.losses.orthogonal import branch_orthogonal_loss
from vireid.modality import check_modality  # noqa: F401  (re-exported: the expansion modules' check)


class ExpansionOutput(NamedTuple):
    tokens: Tensor  # (B * (1 + K), N, C): input, then the K generated embeddings
    aux_losses: dict[str, Tensor]  # unweighted label-free losses of the module (e.g. "ort")
    branch_embeddings: Tensor | None = None  # (K, B, C) pooled generated embeddings, for losses outside


def _check(entry: Entry) -> None:
    cls = entry.obj
    if not (isinstance(cls, type) and issubclass(cls, TokenExpansion)):
        raise PluginError(f"expansion {entry.name!r}: expected a TokenExpansion subclass, got {cls!r}")
    try:
        params = declared_params(cls)
    except TypeError as exc:
        raise PluginError(f"expansion {entry.name!r}: {exc}") from None
    if "dim" not in params.params:
        raise PluginError(f"expansion {entry.name!r}: its constructor must take dim (the token channels)")


#: expansion modules by name (DEEN-ViT's ``expansion``); each registers where it is defined
EXPANSIONS = registry("expansion", check=_check, lower=True)


def register_expansion(name: str):
    """Class decorator: register a :class:`TokenExpansion` as DEEN-ViT's ``expansion=name``; its
    constructor keywords after ``dim`` (with their declared types and rules) are
    ``model.args.expansion_kwargs``."""
    return EXPANSIONS.register(name)


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


class BranchExpansion(TokenExpansion):
    """An expansion whose K branches each generate a whole token set: subclasses implement
    :meth:`generate`; the rest is shared (T-MHEE, CM-ATM, SS-DEC, and plugins):

    ``forward`` checks the tokens, calls ``generate`` for the (K, B, N, C) generated tokens, pools
    them over the tokens and returns ``cat(tokens, generated)`` along the batch, with DEEN's
    orthogonal loss between the K pooled embeddings as ``aux_losses["ort"]``
    (:func:`~vireid.losses.orthogonal.branch_orthogonal_loss`, ``ort_absolute``) plus
    :meth:`extra_losses`, and the pooled embeddings as ``branch_embeddings``.
    """

    dim: int
    ort_absolute: bool = True

    def generate(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None) -> Tensor:
        """The K generated token sets, (K, B, N, C)."""
        raise NotImplementedError

    def extra_losses(self, generated: Tensor) -> dict[str, Tensor]:
        """Further label-free losses on the generated tokens (named in :attr:`aux_loss_names`)."""
        return {}

    @property
    def aux_loss_names(self) -> tuple[str, ...]:
        return ("ort",)

    def forward(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None = None) -> ExpansionOutput:
        check_tokens(tokens, grid_size, self.dim)
        b, n, c = tokens.shape
        gen = self.generate(tokens, grid_size, modality)  # (K, B, N, C)
        k = gen.shape[0]
        pooled = gen.mean(dim=2)  # (K, B, C)
        aux = {"ort": branch_orthogonal_loss(pooled, absolute=self.ort_absolute), **self.extra_losses(gen)}
        out = torch.cat([tokens, gen.reshape(k * b, n, c)], dim=0)
        return ExpansionOutput(out, aux, pooled)


@register_expansion("none")
class IdentityExpansion(TokenExpansion):
    """``expansion="none"``: no generated embeddings (K = 0), tokens pass through unchanged."""

    num_generated = 0

    def __init__(self, dim: Annotated[int | None, Range(1)] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, tokens: Tensor, grid_size: tuple[int, int], modality: Tensor | None = None) -> ExpansionOutput:
        check_tokens(tokens, grid_size, self.dim)
        return ExpansionOutput(tokens, {})
