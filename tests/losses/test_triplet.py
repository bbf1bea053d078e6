import pytest
import torch
import torch.nn.functional as F

from tests.losses.loop_reference import loop_triplet
from vireid.errors import ShapeError
from vireid.losses import (
    TripletLoss,
    WeightedRegularizedTriplet,
    batch_hard_distances,
    euclidean_dist,
    triplet_correct,
    wrt_distances,
)


def _batch(seed, n_ids=4, k=3, dim=8):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randperm(50, generator=g)[:n_ids].repeat_interleave(k)
    return torch.randn(n_ids * k, dim, generator=g), labels


def test_euclidean_dist_matches_cdist():
    a, _ = _batch(0)
    b, _ = _batch(1)
    torch.testing.assert_close(euclidean_dist(a, b), torch.cdist(a, b), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triplet_matches_loop_reference(seed):
    feats, labels = _batch(seed, 5, 4)
    a = feats.clone().requires_grad_(True)
    b = feats.clone().requires_grad_(True)
    ours, ref = TripletLoss(margin=0.3)(a, labels), loop_triplet(b, labels, 0.3)
    ours.backward()
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), abs=1e-5)
    torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4)


def test_hardest_pairs_and_correct_count():
    feats = torch.tensor([[0.0], [1.0], [5.0], [7.0]])
    labels = torch.tensor([0, 0, 1, 1])
    ap, an = batch_hard_distances(feats, labels)
    torch.testing.assert_close(ap, torch.tensor([1.0, 1.0, 2.0, 2.0]))
    torch.testing.assert_close(an, torch.tensor([5.0, 4.0, 4.0, 6.0]))
    assert triplet_correct(ap, an) == 4
    assert TripletLoss(margin=0.3)(feats, labels).item() == pytest.approx(0.0)
    # margin 5: ap - an + 5 per anchor = 1, 2, 3, 1 -> mean 1.75
    assert TripletLoss(margin=5.0)(feats, labels).item() == pytest.approx(1.75)


def test_wrt_weights_are_softmax_over_positives_and_negatives():
    feats, labels = _batch(3, 3, 2, 4)
    feats = feats * 0.3  # small distances: the 1e-6 stabiliser is negligible
    fp, cn = wrt_distances(feats, labels)
    d = torch.cdist(feats, feats)
    same = labels[:, None] == labels[None]
    w_p = torch.softmax(d.masked_fill(~same, -1e9), dim=1)
    w_n = torch.softmax((-d).masked_fill(same, -1e9), dim=1)
    torch.testing.assert_close(fp, (w_p * d).sum(1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cn, (w_n * d).sum(1), atol=1e-4, rtol=1e-4)
    loss = WeightedRegularizedTriplet()(feats, labels)
    assert loss.item() == pytest.approx(torch.nn.functional.softplus(fp - cn).mean().item(), abs=1e-6)


def test_wrt_normalize_feature_is_scale_invariant():
    feats, labels = _batch(4)
    wrt = WeightedRegularizedTriplet(normalize_feature=True)
    assert wrt(feats * 7.0, labels).item() == pytest.approx(wrt(feats, labels).item(), abs=1e-5)


def test_single_identity_and_bad_shapes_raise():
    feats = torch.randn(4, 3)
    with pytest.raises(ShapeError, match="single identity"):
        TripletLoss()(feats, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ShapeError, match="features"):
        TripletLoss()(feats, torch.zeros(3, dtype=torch.long))


def test_wrt_is_finite_where_agws_soft_margin_overflows():
    """Features far apart (as random weights give: the rehearsal's AGW stopped at step 1 with
    'tri' = inf): AGW's SoftMarginLoss overflows, ours is the finite value; equal where both are."""
    loss = WeightedRegularizedTriplet()
    labels = torch.tensor([0, 0, 1, 1])
    g = torch.Generator().manual_seed(0)
    for scale, finite_in_agw in ((1.0, True), (5.0, True), (100.0, False)):
        x = (torch.randn(4, 8, generator=g) * scale).requires_grad_(True)
        ours = loss(x, labels)
        fp, cn = wrt_distances(x, labels)
        agw = F.soft_margin_loss(cn - fp, torch.ones_like(fp))
        assert bool(torch.isfinite(agw)) == finite_in_agw
        if finite_in_agw:
            assert torch.equal(ours, agw)
        else:
            torch.testing.assert_close(ours, (fp - cn).mean())
        ours.backward()
        assert torch.isfinite(x.grad).all()
