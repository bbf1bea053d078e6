"""T-MHEE: shapes, identity chunk, diversity, gradients, parity with per-branch nn.MultiheadAttention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vireid.errors import ConfigError, ShapeError
from vireid.losses.orthogonal import branch_orthogonal_loss, deen_orthogonal_loss
from vireid.models.expansion import build_expansion
from vireid.models.expansion.tmhee import TMHEE, BranchLinear

B, N, C, GRID = 4, 8, 32, (4, 2)


def _tokens(seed: int = 0) -> torch.Tensor:
    return torch.randn(B, N, C, generator=torch.Generator().manual_seed(seed))


def test_build_shapes_and_first_chunk_is_input():
    torch.manual_seed(0)
    m = build_expansion("tmhee", C, num_generated=3, num_heads=4)
    assert isinstance(m, TMHEE) and m.num_generated == 3
    x = _tokens()
    out, aux, branches = m(x, GRID)
    assert out.shape == (B * 4, N, C)
    assert torch.equal(out[:B], x)
    assert set(aux) == {"ort"} and aux["ort"].dim() == 0
    assert branches.shape == (3, B, C)


def test_generated_differ_from_input_and_each_other():
    torch.manual_seed(0)
    m = TMHEE(C, num_heads=4).eval()
    x = _tokens()
    out, _, _ = m(x, GRID)
    x0, g1, g2 = out.chunk(3)
    assert (g1 - x0).abs().mean() > 0.1
    assert (g2 - x0).abs().mean() > 0.1
    assert (g1 - g2).abs().mean() > 0.05


def test_every_parameter_gets_gradient_with_token_ortho():
    torch.manual_seed(0)
    m = TMHEE(C, num_heads=4, token_ortho=True)
    x = _tokens().requires_grad_()
    out, aux, _ = m(x, GRID)
    assert set(aux) == {"ort", "token_ort"}
    w = torch.randn_like(out)
    ((out * w).sum() + sum(aux.values())).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_batched_branches_match_per_branch_multihead_attention():
    """One batched pass == K separate nn.MultiheadAttention branches with the same weights."""
    torch.manual_seed(0)
    m = TMHEE(C, num_generated=2, num_heads=4).eval()
    with torch.no_grad():
        m.norm.weight.normal_()
        m.norm.bias.normal_()
        m.scale.copy_(torch.tensor([0.5, 2.0]))
        m.qkv.bias.normal_()
        m.proj.bias.normal_()
    x = _tokens()
    out, _, _ = m(x, GRID)
    for k in range(2):
        mha = nn.MultiheadAttention(C, 4, batch_first=True)
        with torch.no_grad():
            mha.in_proj_weight.copy_(m.qkv.weight[k])
            mha.in_proj_bias.copy_(m.qkv.bias[k])
            mha.out_proj.weight.copy_(m.proj.weight[k])
            mha.out_proj.bias.copy_(m.proj.bias[k])
        xn = F.layer_norm(x, (C,))
        attn, _ = mha(xn, xn, xn, need_weights=False)
        ref = F.layer_norm(attn + x, (C,), m.norm.weight[k], m.norm.bias[k]) * m.scale[k]
        torch.testing.assert_close(out[B * (k + 1) : B * (k + 2)], ref, atol=1e-5, rtol=1e-5)


def test_branch_linear_shared_equals_per_branch():
    torch.manual_seed(0)
    lin = BranchLinear(3, 5, 7)
    with torch.no_grad():
        lin.bias.normal_()
    x = torch.randn(2, 4, 5)
    torch.testing.assert_close(lin.forward_shared(x), lin(x.expand(3, 2, 4, 5)))
    torch.testing.assert_close(lin.forward_shared(x)[1], x @ lin.weight[1].t() + lin.bias[1])


def test_orthogonal_loss_variants():
    g = torch.randn(2, 5, 6, generator=torch.Generator().manual_seed(1))
    stacked = torch.cat([torch.randn(5, 6), g[0], g[1]])
    # absolute=False is DEEN's loss (original embedding not involved)
    torch.testing.assert_close(branch_orthogonal_loss(g, absolute=False), deen_orthogonal_loss(stacked, 3))
    expected = (g[0] * g[1]).sum(1).abs().sum() / 15
    torch.testing.assert_close(branch_orthogonal_loss(g), expected)
    # anti-parallel branches: DEEN's raw form goes negative, ours does not
    anti = torch.stack([g[0], -g[0]])
    assert branch_orthogonal_loss(anti, absolute=False) < 0 < branch_orthogonal_loss(anti)
    ortho = torch.stack([torch.eye(6)[:5], torch.eye(6)[1:]])
    assert branch_orthogonal_loss(ortho) == 0


def test_train_dropout_on_generated_only_and_eval_deterministic():
    torch.manual_seed(0)
    m = TMHEE(C, num_heads=4, dropout=0.5)
    x = _tokens()
    a, _, _ = m(x, GRID)
    b, _, _ = m(x, GRID)
    assert torch.equal(a[:B], x) and torch.equal(b[:B], x)
    assert not torch.equal(a[B:], b[B:])
    m.eval()
    c, _, _ = m(x, GRID)
    d, _, _ = m(x, GRID)
    assert torch.equal(c, d)


def test_seeded_construction_is_deterministic():
    x = _tokens()
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        outs.append(TMHEE(C, num_heads=4).eval()(x, GRID)[0])
    torch.testing.assert_close(outs[0], outs[1], atol=0, rtol=0)


def test_bad_inputs_raise_clear_errors():
    m = TMHEE(C, num_heads=4)
    with pytest.raises(ShapeError, match="channels"):
        m(torch.randn(B, N, C + 1), GRID)
    with pytest.raises(ShapeError, match="grid"):
        m(_tokens(), (3, 3))
    with pytest.raises(ShapeError):
        m(torch.randn(B, C), GRID)
    with pytest.raises(ConfigError, match="num_heads"):
        TMHEE(C, num_heads=5)
