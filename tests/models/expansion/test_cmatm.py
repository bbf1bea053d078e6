"""CM-ATM: shapes, diversity, gradients, one- and two-modality batches, modality=None, bad modality."""

from __future__ import annotations

import copy

import pytest
import torch

from vireid.errors import ShapeError
from vireid.models.expansion import build_expansion
from vireid.models.expansion.cmatm import CMATM

B, N, C, GRID = 4, 8, 32, (4, 2)
BOTH = torch.tensor([1, 1, 2, 2])  # MODAL_VISIBLE, MODAL_INFRARED


def _tokens(seed: int = 0, batch: int = B) -> torch.Tensor:
    return torch.randn(batch, N, C, generator=torch.Generator().manual_seed(seed))


def _module(**kw) -> CMATM:
    torch.manual_seed(0)
    return CMATM(C, num_heads=4, **kw)


def test_build_shapes_and_first_chunk_is_input():
    torch.manual_seed(0)
    m = build_expansion("cmatm", C, num_heads=4)
    assert isinstance(m, CMATM)
    x = _tokens()
    out, aux, branches = m(x, GRID, BOTH)
    assert out.shape == (B * 3, N, C)
    assert torch.equal(out[:B], x)
    assert set(aux) == {"ort"} == set(m.aux_loss_names) and torch.isfinite(aux["ort"])
    assert branches.shape == (2, B, C)


def test_generated_differ_from_input_and_each_other():
    m = _module().eval()
    x = _tokens()
    out, _, _ = m(x, GRID, BOTH)
    x0, g1, g2 = out.chunk(3)
    assert (g1 - x0).abs().mean() > 0.1
    assert (g2 - x0).abs().mean() > 0.1
    assert (g1 - g2).abs().mean() > 0.05


def test_every_parameter_gets_gradient_two_modalities():
    m = _module()
    out, aux, _ = m(_tokens(), GRID, BOTH)
    ((out * torch.randn_like(out)).sum() + aux["ort"]).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    # both modality tokens of every branch were used
    assert (m.modality_tokens.grad.abs().sum(-1) > 0).all()


@pytest.mark.parametrize("value", [1, 2])
def test_one_modality_batch(value):
    """Test time: only one modality present; only that modality's tokens are used."""
    m = _module()
    x = _tokens()
    out, aux, _ = m(x, GRID, torch.full((B,), value))
    assert out.shape == (3 * B, N, C) and torch.isfinite(out).all() and torch.isfinite(aux["ort"])
    out.sum().backward()
    token = value - 1  # modality_tokens[:, 0] is visible, [:, 1] infrared
    assert (m.modality_tokens.grad[:, token].abs().sum(-1) > 0).all()
    assert (m.modality_tokens.grad[:, 1 - token] == 0).all()


def test_modality_changes_output_and_samples_are_independent():
    """Each sample's embeddings depend only on its own tokens and modality (no cross-sample mixing,
    docs/deen_vit.md, CM-ATM)."""
    m = _module().eval()
    x = _tokens()
    mixed, _, _ = m(x, GRID, BOTH)
    vis, _, _ = m(x[:2], GRID, torch.full((2,), 1))
    ir, _, _ = m(x[2:], GRID, torch.full((2,), 2))
    for k in (1, 2):
        chunk = mixed[k * B : (k + 1) * B]
        torch.testing.assert_close(chunk[:2], vis[k * 2 : (k + 1) * 2], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(chunk[2:], ir[k * 2 : (k + 1) * 2], atol=1e-5, rtol=1e-5)
    all_vis, _, _ = m(x, GRID, torch.full((B,), 1))
    assert (all_vis[2 * B :] - mixed[2 * B :]).abs().amax() > 1e-3  # IR samples queried differently


def test_unknown_modality_uses_mean_token():
    m = _module().eval()
    x = _tokens()
    out_none, _, _ = m(x, GRID, None)
    ref = copy.deepcopy(m)
    with torch.no_grad():
        ref.modality_tokens[:] = m.modality_tokens.mean(dim=1, keepdim=True)
    out_ref, _, _ = ref(x, GRID, torch.full((B,), 1))
    torch.testing.assert_close(out_none, out_ref)


def test_bad_modality_raises():
    m = _module()
    x = _tokens()
    with pytest.raises(ShapeError, match="1 \\(visible\\) or 2"):
        m(x, GRID, torch.tensor([0, 1, 2, 1]))
    with pytest.raises(ShapeError, match="shape"):
        m(x, GRID, torch.tensor([1, 2]))
    with pytest.raises(ShapeError, match="integer"):
        m(x, GRID, torch.zeros(B))
    with pytest.raises(ShapeError, match="channels"):
        m(torch.randn(B, N, 16), GRID, BOTH)


def test_seeded_construction_and_dropout():
    x = _tokens()
    a = _module().eval()(x, GRID, BOTH)[0]
    b = _module().eval()(x, GRID, BOTH)[0]
    assert torch.equal(a, b)
    m = _module(dropout=0.5).train()
    c, _, _ = m(x, GRID, BOTH)
    d, _, _ = m(x, GRID, BOTH)
    assert torch.equal(c[:B], x) and not torch.equal(c[B:], d[B:])
