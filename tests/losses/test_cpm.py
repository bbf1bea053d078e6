import pytest
import torch

from tests.losses.loop_reference import loop_cpm
from vireid.errors import ShapeError
from vireid.losses import CPMLoss


def _batch(seed, num_ids=5, num_pos=3, dim=16):
    g = torch.Generator().manual_seed(seed)
    pids = torch.randperm(100, generator=g)[:num_ids].repeat_interleave(num_pos)
    feats = torch.randn(4 * num_ids * num_pos, dim, generator=g)
    return feats, pids.repeat(4)


@pytest.mark.parametrize("seed,num_ids,num_pos", [(0, 5, 3), (1, 2, 1), (2, 6, 4), (3, 3, 8)])
def test_matches_loop_reference_values_and_grads(seed, num_ids, num_pos):
    feats, labels = _batch(seed, num_ids, num_pos)
    a = feats.clone().requires_grad_(True)
    b = feats.clone().requires_grad_(True)
    ours, ref = CPMLoss(margin=0.2)(a, labels), loop_cpm(b, labels, margin=0.2)
    ours.backward()
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), abs=1e-5)
    torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4)


def test_centers_are_block_means_in_batch_order():
    feats, labels = _batch(0, 3, 2, 4)
    centres = CPMLoss().centers(feats, labels)
    assert centres.shape == (4, 3, 4)
    torch.testing.assert_close(centres[2, 1], feats[2 * 6 + 2 : 2 * 6 + 4].mean(0))


def test_invariant_to_identity_order():
    feats, labels = _batch(4, 4, 2)
    perm = torch.tensor([2, 0, 3, 1])

    def blocks(t):
        return t.reshape(4, 4, 2, *t.shape[1:])[:, perm].reshape(t.shape)

    loss = CPMLoss()
    assert loss(blocks(feats), blocks(labels)).item() == pytest.approx(loss(feats, labels).item(), abs=1e-6)


def test_cross_negative_is_detached():
    # Exact integer centres (P = 2, K = 1): only R(d13, d23) is active; chunk 1 enters it only
    # through the detached cross negative d13, and d14 = 0 sits in the clamp, so chunk 1 gets
    # no gradient while chunks 2 and 3 do.
    c1 = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    feats = torch.cat([c1, c1 + torch.tensor([0.0, 3.0]), c1 + torch.tensor([0.0, 1.0]), c1])
    feats.requires_grad_(True)
    labels = torch.tensor([4, 9]).repeat(4)
    loss = CPMLoss(margin=0.2)(feats, labels)
    loss.backward()
    assert loss.item() == pytest.approx((2 - 1 + 0.2) / 2)
    assert feats.grad[0:2].abs().max() == 0
    assert feats.grad[2:4].abs().max() > 0 and feats.grad[4:6].abs().max() > 0


def test_margin_changes_value():
    feats, labels = _batch(6)
    assert CPMLoss(margin=1.0)(feats, labels) > CPMLoss(margin=0.2)(feats, labels)


def test_bad_layouts_raise_shape_error():
    feats, labels = _batch(7, 3, 2)
    with pytest.raises(ShapeError, match="four equal chunks"):
        CPMLoss()(feats[:-1], labels[:-1])
    shuffled = labels.clone()
    shuffled[[0, 2]] = shuffled[[2, 0]]  # breaks the contiguous blocks
    with pytest.raises(ShapeError, match="contiguous blocks"):
        CPMLoss()(feats, shuffled)
    one_id = torch.zeros_like(labels)
    with pytest.raises(ShapeError, match="P >= 2"):
        CPMLoss()(feats, one_id)
    CPMLoss(check_labels=False)(feats, shuffled)  # unchecked: computes like the authors
