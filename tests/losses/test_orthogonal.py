import pytest
import torch

from vireid.errors import ShapeError
from vireid.losses import deen_orthogonal_loss


def test_equals_inner_product_of_generated_embeddings():
    g = torch.Generator().manual_seed(0)
    e0, e1, e2 = (torch.rand(4, 10, generator=g) for _ in range(3))
    stacked = torch.cat([e0, e1, e2])
    expected = (e1 * e2).sum() / 12
    assert deen_orthogonal_loss(stacked).item() == pytest.approx(expected.item(), rel=1e-6)
    assert deen_orthogonal_loss(stacked.view(12, 10, 1, 1)).item() == pytest.approx(expected.item(), rel=1e-6)
    # the original embedding e0 does not enter the loss
    assert deen_orthogonal_loss(torch.cat([e0 * 5, e1, e2])).item() == pytest.approx(expected.item(), rel=1e-6)


def test_zero_for_orthogonal_embeddings_and_general_e():
    e = torch.eye(4)
    assert deen_orthogonal_loss(torch.cat([e[:1], e[1:2], e[2:3]])).item() == 0.0
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4 * 2, 5, generator=g)  # E = 4, B = 2
    parts = x.view(4, 2, 5)[1:]
    expected = sum((parts[i] * parts[j]).sum() for i in range(3) for j in range(i + 1, 3)) / 8
    assert deen_orthogonal_loss(x, num_embeddings=4).item() == pytest.approx(expected.item(), rel=1e-6)


def test_gradient_and_bad_shapes():
    x = torch.rand(6, 3, requires_grad=True)
    deen_orthogonal_loss(x).backward()
    assert x.grad[:2].abs().max() == 0 and x.grad[2:].abs().max() > 0
    with pytest.raises(ShapeError):
        deen_orthogonal_loss(torch.rand(7, 3))
    with pytest.raises(ShapeError):
        deen_orthogonal_loss(torch.rand(6, 3, 2, 2))


def test_absolute_form_is_bounded_on_signed_features():
    import torch

    from vireid.losses.orthogonal import deen_orthogonal_loss

    g = torch.randn(4, 8)
    feats = torch.cat([torch.randn(4, 8), g, -g])  # generated pair anti-parallel
    raw = deen_orthogonal_loss(feats, 3)
    ab = deen_orthogonal_loss(feats, 3, absolute=True)
    assert raw < 0 and ab > 0
    torch.testing.assert_close(ab, -raw)
    pos = feats.abs()
    torch.testing.assert_close(deen_orthogonal_loss(pos, 3, absolute=True), deen_orthogonal_loss(pos, 3))
