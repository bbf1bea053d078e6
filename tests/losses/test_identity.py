import pytest
import torch

from vireid.errors import ShapeError
from vireid.losses import IdentityLoss


def test_label_smoothing_matches_smoothed_target():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(6, 5, generator=g), torch.tensor([0, 1, 2, 3, 4, 0])
    eps = 0.1
    logp = logits.log_softmax(1)
    target = torch.full_like(logp, eps / 5)
    target[torch.arange(6), labels] += 1 - eps
    expected = -(target * logp).sum(1).mean()
    assert IdentityLoss(label_smoothing=eps)(logits, labels).item() == pytest.approx(expected.item(), abs=1e-6)
    plain = -logp[torch.arange(6), labels].mean()
    assert IdentityLoss()(logits, labels).item() == pytest.approx(plain.item(), abs=1e-6)


def test_accuracy_and_errors():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    assert identity_accuracy(logits, torch.tensor([0, 1, 1])).item() == pytest.approx(2 / 3)
    with pytest.raises(ShapeError):
        IdentityLoss()(logits, torch.tensor([0, 1]))
    with pytest.raises(ValueError):
        IdentityLoss(label_smoothing=1.0)


def identity_accuracy(logits, labels):
    """Fraction of samples whose arg-max logit is the true class."""
    return (logits.argmax(dim=1) == labels).float().mean()
