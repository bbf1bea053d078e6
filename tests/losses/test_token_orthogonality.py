"""Token-level orthogonality loss: chunked custom autograd vs a naive full-Gram reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vireid.errors import ShapeError
from vireid.losses.token_orthogonality import auto_chunk_size, token_orthogonality_loss


def naive_reference(x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The plain form (full (B, N, N) Gram, diagonal zeroed), plus the mean over B."""
    xn = F.normalize(x, p=2, dim=2)
    gram = torch.bmm(xn, xn.transpose(1, 2))
    gram = gram - torch.diag_embed(gram.diagonal(dim1=1, dim2=2))
    n = x.size(1)
    loss = gram.abs().sum() / (n * (n - 1))
    return loss / x.size(0) if reduction == "mean" else loss


@pytest.mark.parametrize("chunk", [1, 3, None])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_matches_naive_value_and_gradient(chunk, reduction):
    x = torch.randn(5, 8, 32, generator=torch.Generator().manual_seed(0))
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    ours = token_orthogonality_loss(x1, chunk_size=chunk, reduction=reduction)
    ref = naive_reference(x2, reduction)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-5)
    w = torch.tensor(1.7)
    (ours * w).backward()
    (ref * w).backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-6, rtol=1e-5)


def test_gradcheck_double():
    x = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: token_orthogonality_loss(t, chunk_size=2), (x,))


def test_known_values():
    eye = torch.eye(6)[None, :4].repeat(2, 1, 1)  # orthogonal tokens
    assert token_orthogonality_loss(eye).item() == 0.0
    same = torch.ones(2, 4, 6)  # identical tokens: every cosine is 1
    assert token_orthogonality_loss(same).item() == pytest.approx(1.0)
    assert token_orthogonality_loss(same, reduction="sum").item() == pytest.approx(2.0)
    scaled = torch.randn(2, 4, 6)
    torch.testing.assert_close(token_orthogonality_loss(scaled), token_orthogonality_loss(scaled * 10))


def test_degenerate_and_bad_inputs():
    x = torch.randn(3, 1, 4, requires_grad=True)
    loss = token_orthogonality_loss(x)
    assert loss.item() == 0.0 and loss.requires_grad
    with pytest.raises(ShapeError, match="B, N, C"):
        token_orthogonality_loss(torch.randn(4, 4))
    with pytest.raises(ValueError):
        token_orthogonality_loss(torch.randn(2, 3, 4), chunk_size=0)
    assert auto_chunk_size(576) * 576 * 576 <= 1 << 23 and auto_chunk_size(10_000) == 1
