"""Token-level orthogonality loss, an option of T-MHEE (docs/deen_vit.md, "The token-level loss").

For each sample the tokens are L2-normalised over channels, ``X_hat = normalize(X, dim=-1)`` (N, C),
and the loss is the mean absolute off-diagonal entry of their Gram matrix

    L = 1 / (B * N * (N - 1)) * sum_b sum_{i != j} |<x_hat_bi, x_hat_bj>|

i.e. ``|Gram|.sum() / (N (N - 1))`` with the diagonal removed, per sample.  ``reduction="mean"``
(default) also divides by B so a loss weight does not depend on the batch size;
``reduction="sum"`` sums over the batch (its value then grows with B).

Memory.  A naive implementation keeps the whole (B, N, N) Gram matrix and its sign alive for
backward (at N = 576, B = 64: 85 MB each in fp32).  Here a custom autograd function processes the
batch in chunks of ``chunk_size`` samples: the forward builds one chunk's Gram matrix at a time and
keeps only a running sum; the backward recomputes each chunk's Gram matrix and uses
``dL/dX_hat_b = (S_b + S_b^T) X_hat_b / denom`` with ``S_b = sign(G_b)`` (zero diagonal).  Saved
between forward and backward: only ``X_hat`` (B, N, C).  Peak extra memory: about 3 x
``chunk_size * N^2`` floats (Gram, sign and their sum), by default at most ~2^23 elements per chunk
(32 MB in fp32).  The Gram matrices are computed in fp32 (fp64 for fp64 input) even under
autocast.  The ||G||_F identity (``||X X^T||_F = ||X^T X||_F``) avoids N x N matrices only for
*squared* entries, not for the absolute values used here, hence the chunking.  Not twice
differentiable.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from vireid.errors import ShapeError

_AUTO_CHUNK_ELEMENTS = 1 << 23


def _offdiag_gram(xc: Tensor) -> Tensor:
    g = torch.bmm(xc, xc.transpose(1, 2))
    g.diagonal(dim1=1, dim2=2).zero_()
    return g


def _at_least_fp32(x: Tensor) -> Tensor:
    return x if x.dtype == torch.float64 else x.float()


class _AbsOffDiagGramSum(torch.autograd.Function):
    """``sum_b sum_{i != j} |(X_b X_b^T)_ij|`` for X (B, N, C), chunked over B (see module doc)."""

    @staticmethod
    def forward(ctx, x: Tensor, chunk: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.chunk = chunk
        with torch.autocast(x.device.type, enabled=False):
            xf = _at_least_fp32(x)
            total = xf.new_zeros(())
            for xc in xf.split(chunk):
                total = total + _offdiag_gram(xc).abs().sum()
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        grads = []
        with torch.autocast(x.device.type, enabled=False):
            for xc in _at_least_fp32(x).split(ctx.chunk):
                s = _offdiag_gram(xc).sign_()
                grads.append(torch.bmm(s + s.transpose(1, 2), xc))
        return (torch.cat(grads, 0) * grad_out).to(x.dtype), None


def auto_chunk_size(num_tokens: int) -> int:
    """Samples per chunk so that one chunk's Gram matrix has at most ~2^23 elements."""
    return max(1, _AUTO_CHUNK_ELEMENTS // max(1, num_tokens * num_tokens))


def token_orthogonality_loss(
    tokens: Tensor, chunk_size: int | None = None, reduction: Literal["mean", "sum"] = "mean", eps: float = 1e-12
) -> Tensor:
    """Mean absolute off-diagonal cosine similarity between the tokens of each sample.

    ``tokens``: (B, N, C).  ``chunk_size``: samples per chunk (None: :func:`auto_chunk_size`).
    ``reduction``: "mean" divides by ``B * N * (N - 1)``, "sum" by ``N * (N - 1)``.
    Returns a scalar (0 when N < 2).
    """
    if not isinstance(tokens, Tensor) or tokens.dim() != 3:
        shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
        raise ShapeError(f"token_orthogonality_loss: expected tokens (B, N, C), got {shape}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    b, n, _ = tokens.shape
    if n < 2 or b == 0:
        return tokens.sum() * 0.0
    chunk = auto_chunk_size(n) if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    x_hat = F.normalize(tokens, dim=-1, eps=eps)
    denom = n * (n - 1) * (b if reduction == "mean" else 1)
    return _AbsOffDiagGramSum.apply(x_hat, chunk) / denom
