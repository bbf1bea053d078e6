import math

import pytest
import torch
import torch.nn.functional as F

from vireid.errors import ShapeError
from vireid.losses import InfoNCE


def _loop_reference(v, r, lv, lr, t):
    v, r = F.normalize(v, dim=1), F.normalize(r, dim=1)

    def one_way(a, b, la, lb):
        terms = []
        for i in range(a.shape[0]):
            logits = (b @ a[i]) / t
            pos = (lb == la[i]).nonzero().flatten()
            if len(pos):
                terms.append(-(logits[pos] - torch.logsumexp(logits, 0)).mean())
        return torch.stack(terms).mean() if terms else torch.tensor(0.0)

    return (one_way(v, r, lv, lr) + one_way(r, v, lr, lv)) / 2


def test_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    v, r = torch.randn(6, 8, generator=g), torch.randn(5, 8, generator=g)
    lv, lr = torch.tensor([0, 0, 1, 1, 2, 3]), torch.tensor([0, 1, 1, 2, 5])   # id 3 and 5 unmatched
    ours = InfoNCE(temperature=0.5)(v, r, lv, lr)
    assert ours.item() == pytest.approx(_loop_reference(v, r, lv, lr, 0.5).item(), abs=1e-5)


def test_aligned_pairs_give_low_loss_and_gradients():
    v = torch.eye(4, requires_grad=True)
    r = torch.eye(4)
    labels = torch.arange(4)
    loss = InfoNCE(temperature=0.05)(v, r, labels, labels)
    assert loss.item() < 1e-6
    shuffled = InfoNCE(temperature=0.05)(v, r, labels, labels.flip(0))
    assert shuffled.item() > 10
    shuffled.backward()
    assert v.grad.abs().sum() > 0


def test_uniform_similarity_is_log_n_and_no_positive_is_zero():
    v, r = torch.ones(3, 4), torch.ones(5, 4)
    loss = InfoNCE()(v, r, torch.zeros(3, dtype=torch.long), torch.zeros(5, dtype=torch.long))
    assert loss.item() == pytest.approx((math.log(5) + math.log(3)) / 2, abs=1e-5)
    x = torch.randn(3, 4, requires_grad=True)
    none = InfoNCE()(x, torch.randn(2, 4), torch.tensor([0, 1, 2]), torch.tensor([7, 8]))
    assert none.item() == 0.0
    none.backward()                                   # still part of the graph


def test_bad_shapes_raise():
    with pytest.raises(ShapeError):
        InfoNCE()(torch.randn(3, 4), torch.randn(3, 5), torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError):
        InfoNCE(temperature=0.0)
