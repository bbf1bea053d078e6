import pytest
import torch
from torch import nn

from vireid.errors import ShapeError
from vireid.losses import FeatureOrthogonality, WeightOrthogonality, svdo_eigs


def _with_singular_values(sigmas, rows, cols, seed=0):
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, rows, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=g, dtype=torch.float64))
    s = torch.zeros(rows, cols, dtype=torch.float64)
    s[range(len(sigmas)), range(len(sigmas))] = torch.tensor(sigmas, dtype=torch.float64)
    return (u @ s @ v.t()).float()


def test_converges_to_eigvalsh_with_a_spectral_gap():
    ms = torch.stack(
        [
            _with_singular_values([10, 6, 5, 4, 3, 0.5], 6, 10, seed=1),
            _with_singular_values([4, 2, 1.8, 1.5, 1.2, 0.2], 6, 10, seed=2),
        ]
    )
    lam1, lam2 = svdo_eigs(ms, num_iters=300, generator=torch.Generator().manual_seed(0))
    exact = torch.linalg.eigvalsh(ms.double() @ ms.double().transpose(1, 2))
    torch.testing.assert_close(lam1.double(), exact[:, -1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(lam2.double(), exact[:, 0], rtol=1e-3, atol=1e-3)


def test_default_two_steps_are_close_on_a_dominant_direction():
    g = torch.Generator().manual_seed(3)
    m = torch.rand(32, 50, generator=g) + 1.0  # non-negative, strongly dominant mean direction
    lam1, _ = svdo_eigs(m, generator=torch.Generator().manual_seed(0))
    exact = torch.linalg.eigvalsh((m @ m.t()).double())[-1]
    assert lam1.item() == pytest.approx(exact.item(), rel=1e-3)


def test_gram_side_auto_uses_the_smaller_gram():
    m = _with_singular_values([3, 2, 1], 10, 3, seed=4)  # tall: M M^T has 7 zero eigenvalues

    def gen():
        return torch.Generator().manual_seed(0)

    _, lam2_auto = svdo_eigs(m, num_iters=200, generator=gen())
    _, lam2_outer = svdo_eigs(m, num_iters=200, generator=gen(), gram="outer")
    _, lam2_inner = svdo_eigs(m, num_iters=200, generator=gen(), gram="inner")
    assert lam2_auto.item() == pytest.approx(1.0, rel=1e-3) == lam2_inner.item()
    assert abs(lam2_outer.item()) < 1e-3


def test_deterministic_with_the_same_generator():
    m = torch.randn(3, 8, 12)
    a = svdo_eigs(m, generator=torch.Generator().manual_seed(7))
    b = svdo_eigs(m, generator=torch.Generator().manual_seed(7))
    c = svdo_eigs(m, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_orthogonal_matrices_have_zero_penalty():
    q, _ = torch.linalg.qr(torch.randn(12, 12))
    lam1, lam2 = svdo_eigs(q[:5], generator=torch.Generator().manual_seed(0))  # orthonormal rows
    assert lam1.item() == pytest.approx(1.0, abs=1e-5) and lam2.item() == pytest.approx(1.0, abs=1e-5)
    conv = nn.Conv2d(3, 4, kernel_size=2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(q[:4].reshape(4, 3, 2, 2))
    for form in ("difference", "condition"):
        assert WeightOrthogonality(beta=1.0, form=form, seed=0)(conv).item() < 1e-9
    feats = q[:6].reshape(1, 6, 3, 4)
    assert FeatureOrthogonality(beta=1.0, seed=0)(feats).item() < 1e-9


def test_gradients_flow_to_inputs_and_weights():
    x = torch.rand(2, 8, 4, 3, requires_grad=True)
    FeatureOrthogonality(beta=1.0, seed=0)(x).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    net = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 6, 1))
    WeightOrthogonality(beta=1.0, seed=0)(net).backward()
    for conv in (net[0], net[2]):
        assert torch.isfinite(conv.weight.grad).all() and conv.weight.grad.abs().sum() > 0
        assert conv.bias.grad is None


def _exact_gap(m):
    lam = torch.linalg.eigvalsh(
        (m @ m.transpose(-1, -2)).double() if m.shape[-2] <= m.shape[-1] else (m.transpose(-1, -2) @ m).double()
    )
    return lam[..., -1], lam[..., 0]


def test_feature_penalty_is_the_batch_mean_and_accepts_tokens():
    g = torch.Generator().manual_seed(5)
    maps = torch.randn(3, 4, 3, 3, generator=g)
    of = FeatureOrthogonality(beta=0.5, num_iters=500, seed=0)
    l1, l2 = _exact_gap(maps.flatten(2))
    assert of(maps).item() == pytest.approx((0.5 * (l1 - l2) ** 2).mean().item(), rel=1e-3)
    linear = FeatureOrthogonality(beta=0.5, num_iters=500, squared=False, seed=0)
    assert linear(maps).item() == pytest.approx((0.5 * (l1 - l2)).mean().item(), rel=1e-3)
    tokens = maps.flatten(2).transpose(1, 2)  # (B, N, C)
    fast = FeatureOrthogonality(seed=0)
    assert fast(tokens).item() == FeatureOrthogonality(seed=0)(maps).item()
    with pytest.raises(ShapeError):
        fast(torch.randn(3, 4))


def test_weight_penalty_sums_layers_and_respects_options():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(4, 2))

    def expected(mods, form="difference", beta=1e-3):
        total = 0.0
        for m in mods:
            l1, l2 = _exact_gap(m.weight.detach().reshape(m.weight.shape[0], -1))
            total += ((l1 - l2) ** 2 if form == "difference" else (l1 / l2 - 1) ** 2).item()
        return beta * total

    ow = WeightOrthogonality(num_iters=500, seed=0)
    assert ow(net).item() == pytest.approx(expected(net[:3]), rel=1e-3)
    assert WeightOrthogonality(num_iters=500, include_linear=True, seed=0)(net).item() == pytest.approx(
        expected([*net[:3], net[4]]), rel=1e-3
    )
    cond = WeightOrthogonality(form="condition", num_iters=500, seed=0)
    assert cond(net).item() == pytest.approx(expected(net[:3], "condition"), rel=1e-3)
    assert ow(net, filter=lambda name, m: name != "0").item() == pytest.approx(expected(net[1:3]), rel=1e-3)
    assert ow([net[1]]).item() == pytest.approx(expected([net[1]]), rel=1e-3)
    with pytest.raises(ShapeError, match="no Conv2d"):
        ow(nn.Linear(3, 3))


def test_bad_inputs():
    with pytest.raises(ShapeError):
        svdo_eigs(torch.randn(5))
    with pytest.raises(ValueError):
        svdo_eigs(torch.randn(3, 3), num_iters=0)
    with pytest.raises(ValueError):
        WeightOrthogonality(form="spectral")


def test_abd_reduction_is_their_sum_over_b_over_32():
    """ABD-Net's ``OFPenalty.apply_penalty`` (``of_penalty.py:59-67``): ``W = x.view(B, C, -1)``, the
    eigenvalues of ``W W^T``, ``(largest - smallest) * beta``, then ``.sum() / (B / 32.)``."""
    g = torch.Generator().manual_seed(6)
    maps = torch.relu(torch.randn(5, 4, 3, 3, generator=g))
    w = maps.flatten(2).double()
    lam = torch.linalg.eigvalsh(w @ w.transpose(1, 2))  # their C x C Gram
    theirs = ((lam[:, -1] - lam[:, 0]) * 1e-6).sum() / (maps.shape[0] / 32.0)
    ours = FeatureOrthogonality(beta=1e-6, num_iters=500, squared=False, reduction="abd", gram="outer", seed=0)
    assert ours(maps).item() == pytest.approx(theirs.item(), rel=1e-4)
    mean = FeatureOrthogonality(beta=1e-6, num_iters=500, squared=False, gram="outer", seed=0)(maps)
    assert ours(maps).item() == pytest.approx(32 * mean.item(), rel=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        FeatureOrthogonality(reduction="sum")
