"""SS-DEC: shapes, diversity, gradients, masking only in training, seeded masks, cross-modal InfoNCE."""

from __future__ import annotations

import copy

import pytest
import torch

from vireid.errors import ConfigError, ShapeError
from vireid.losses.infonce import branch_infonce
from vireid.models.expansion import build_expansion
from vireid.models.expansion.ssdec import SSDEC

B, N, C, GRID = 4, 8, 32, (4, 2)
BOTH = torch.tensor([1, 1, 2, 2])  # MODAL_VISIBLE, MODAL_INFRARED


def _tokens(seed: int = 0) -> torch.Tensor:
    return torch.randn(B, N, C, generator=torch.Generator().manual_seed(seed))


def _module(**kw) -> SSDEC:
    torch.manual_seed(0)
    kw.setdefault("num_heads", 4)
    kw.setdefault("seed", 3)
    return SSDEC(C, **kw)


def test_build_shapes_and_first_chunk_is_input():
    torch.manual_seed(0)
    m = build_expansion("ssdec", C, num_generated=3, num_heads=2, branch_dim=8)
    assert isinstance(m, SSDEC) and m.branch_dim == 8
    x = _tokens()
    for mode in (True, False):
        out, aux, branches = m.train(mode)(x, GRID, BOTH)
        assert out.shape == (4 * B, N, C)
        assert torch.equal(out[:B], x)
        assert set(aux) == {"ort"} and torch.isfinite(aux["ort"])
        assert branches.shape == (3, B, C) and m.aux_loss_names == ("ort",)
    assert _module().branch_dim == C // 2  # default: C // K


def test_generated_differ_from_input_and_each_other():
    m = _module().eval()
    out, _, _ = m(_tokens(), GRID)
    x0, g1, g2 = out.chunk(3)
    assert (g1 - x0).abs().mean() > 0.1
    assert (g2 - x0).abs().mean() > 0.1
    assert (g1 - g2).abs().mean() > 0.05


def test_every_parameter_gets_gradient_with_infonce():
    m = _module()
    out, aux, branches = m(_tokens(), GRID, BOTH)
    nce = branch_infonce(branches, torch.tensor([0, 1, 0, 1]), BOTH, temperature=0.1)
    ((out * torch.randn_like(out)).sum() + aux["ort"] + nce).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_masking_only_in_training():
    m = _module(dropout=0.0)
    x = _tokens()
    m.eval()
    e1, _, _ = m(x, GRID)
    e2, _, _ = m(x, GRID)
    assert torch.equal(e1, e2)
    unmasked = copy.deepcopy(m).train()
    unmasked.mask_ratio = 0.0
    torch.testing.assert_close(unmasked(x, GRID)[0], e1)  # eval == training without masking
    m.train()
    t1, _, _ = m(x, GRID)
    t2, _, _ = m(x, GRID)
    assert (t1[B:] - e1[B:]).abs().amax() > 1e-3
    assert (t1[B:] - t2[B:]).abs().amax() > 1e-3  # a fresh mask each step


def test_token_masks_rate_and_seeding():
    m = _module(mask_ratio=0.3)
    keep = m.token_masks(64, 64, torch.device("cpu"))
    assert keep.shape == (2, 64, 64) and keep.dtype == torch.bool
    assert abs((~keep).float().mean().item() - 0.3) < 0.03
    assert not torch.equal(keep[0], keep[1])  # each branch its own view
    same = _module(mask_ratio=0.3).token_masks(64, 64, torch.device("cpu"))
    assert torch.equal(keep, same)
    other = _module(mask_ratio=0.3, seed=4).token_masks(64, 64, torch.device("cpu"))
    assert not torch.equal(keep, other)


def test_seeded_training_forward_is_deterministic():
    x = _tokens()
    runs = []
    for _ in range(2):
        m = _module(dropout=0.0)
        runs.append([m(x, GRID)[0] for _ in range(2)])
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)
    torch.manual_seed(11)
    a = SSDEC(C, num_heads=4, seed=None, dropout=0.0)(x, GRID)[0]
    torch.manual_seed(11)
    b = SSDEC(C, num_heads=4, seed=None, dropout=0.0)(x, GRID)[0]
    assert torch.equal(a, b)  # seed=None follows torch.manual_seed


def test_deepcopy_copies_the_generator_state():
    """A copy (e.g. for EMA or a worker) continues the mask sequence exactly where the original is."""
    m = _module(dropout=0.0)
    x = _tokens()
    first = m(x, GRID)[0]
    clone = copy.deepcopy(m)
    second = m(x, GRID)[0]
    assert torch.equal(clone(x, GRID)[0], second)
    assert not torch.equal(first, second)
    assert len(SSDEC(C, num_heads=4, seed=3).random_generators) == 2


def test_bad_config_and_inputs():
    with pytest.raises(ConfigError, match="num_heads"):
        SSDEC(C, num_heads=3)
    with pytest.raises(ConfigError, match="mask_ratio"):
        SSDEC(C, num_heads=4, mask_ratio=1.0)
    with pytest.raises(ShapeError, match="grid"):
        _module()(_tokens(), (2, 2))
