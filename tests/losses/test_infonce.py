import math

import pytest
import torch
import torch.nn.functional as F

from vireid.errors import ShapeError
from vireid.losses import InfoNCE
from vireid.losses.infonce import branch_infonce

B = 4
BOTH = torch.tensor([1, 1, 2, 2])  # MODAL_VISIBLE, MODAL_INFRARED


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
    lv, lr = torch.tensor([0, 0, 1, 1, 2, 3]), torch.tensor([0, 1, 1, 2, 5])  # id 3 and 5 unmatched
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
    none.backward()  # still part of the graph


def test_bad_shapes_raise():
    with pytest.raises(ShapeError):
        InfoNCE()(torch.randn(3, 4), torch.randn(3, 5), torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError):
        InfoNCE(temperature=0.0)


def test_branch_infonce_hand_made_value():
    """vis a=e1 (id 0), vis b=e2 (id 1), ir c=e1 (id 0), ir d=e2 (id 1): each anchor's loss is
    -log(e^{1/T} / (e^{1/T} + e^{0})) = log(1 + e^{-1/T})."""
    e = torch.eye(3)
    z = torch.stack([e[0], e[1], e[0], e[1]])
    loss = branch_infonce(torch.stack([z, z]), torch.tensor([0, 1, 0, 1]), BOTH, temperature=0.5)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)


def test_branch_infonce_decreases_when_positives_get_closer():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 8, 16, generator=g)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    modality = torch.tensor([1, 1, 1, 1, 2, 2, 2, 2])
    base = branch_infonce(z, labels, modality, temperature=0.2)
    closer = z.clone()
    closer[:, 4:] = 0.5 * z[:, 4:] + 0.5 * z[:, :4]  # infrared moved towards the same identity's visible
    moved = branch_infonce(closer, labels, modality, temperature=0.2)
    assert torch.isfinite(base) and torch.isfinite(moved)
    assert moved < base - 0.1


def test_branch_infonce_edge_cases_and_errors():
    z = torch.randn(2, B, 6, requires_grad=True)
    # one modality only / no shared identity -> 0, finite, in the graph
    for labels, modality in (
        (torch.tensor([0, 1, 0, 1]), torch.ones(B, dtype=torch.long)),
        (torch.tensor([0, 1, 2, 3]), BOTH),
    ):
        loss = branch_infonce(z, labels, modality)
        assert loss.item() == 0.0 and loss.requires_grad
    with pytest.raises(ShapeError, match="labels"):
        branch_infonce(z, torch.tensor([0, 1]), BOTH)
    with pytest.raises(ShapeError, match=r"\(K, B, C\)"):
        branch_infonce(torch.zeros(4, 6), torch.tensor([0, 1, 0, 1]), BOTH)
