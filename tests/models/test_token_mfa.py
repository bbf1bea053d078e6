"""Token MFA (CNL + PNL on patch tokens): identity at init, einsum reference, pooling, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vireid.errors import ConfigError, ShapeError
from vireid.models.token_mfa import TokenMFA, pool_tokens


def perturb_norms(mfa: TokenMFA) -> None:
    with torch.no_grad():
        for nl in (mfa.cnl, mfa.pnl):
            nl.norm.norm.weight.normal_(1.0, 0.2)
            nl.norm.norm.bias.normal_(0.0, 0.2)


def reference(mfa: TokenMFA, xh, xl, grid, pool):
    """Straight from the equations, with explicit (un-pooled) grids and full energy matrices."""

    def lin(layer, x):
        return x @ layer.weight.T + layer.bias

    def norm(nl, y):
        n = nl.norm.norm
        if nl.norm.kind == "ln":
            return F.layer_norm(y, (y.shape[-1],), n.weight, n.bias, n.eps)
        mean = y.mean(dim=(0, 1))
        var = y.var(dim=(0, 1), unbiased=False)
        return (y - mean) / torch.sqrt(var + n.eps) * n.weight + n.bias

    def avg(x):
        b, n, c = x.shape
        g = x.transpose(1, 2).reshape(b, c, *grid)
        return (
            F.adaptive_avg_pool2d(g, (math.ceil(grid[0] / pool), math.ceil(grid[1] / pool))).flatten(2).transpose(1, 2)
        )

    cnl, pnl = mfa.cnl, mfa.pnl
    th, ph, g = lin(cnl.theta, avg(xh)), lin(cnl.phi, avg(xl)), lin(cnl.g, xl)
    energy = torch.einsum("bmc,bmd->bcd", th, ph) / th.shape[1]
    y = torch.einsum("bcd,bnd->bnc", energy, g)
    z = xh + norm(cnl, lin(cnl.proj, y))
    low = avg(xl)
    th, ph, g = lin(pnl.theta, z), lin(pnl.phi, low), lin(pnl.g, low)
    energy = torch.einsum("bnc,bmc->bnm", th, ph) / low.shape[1]
    y = torch.einsum("bnm,bmc->bnc", energy, g)
    return z + norm(pnl, lin(pnl.proj, y))


@pytest.mark.parametrize("norm", ["bn", "ln"])
def test_identity_at_init(norm):
    mfa = TokenMFA(16, pool=2, norm=norm)
    xh, xl = torch.randn(3, 12, 16), torch.randn(3, 12, 16)
    torch.testing.assert_close(mfa(xh, xl, (4, 3)), xh)


@pytest.mark.parametrize("norm", ["bn", "ln"])
@pytest.mark.parametrize("pool,grid", [(1, (4, 2)), (2, (4, 2)), (2, (6, 3)), (4, (6, 3))])
def test_matches_einsum_reference(norm, pool, grid):
    torch.manual_seed(0)
    n = grid[0] * grid[1]
    mfa = TokenMFA(16, pool=pool, norm=norm).train()
    perturb_norms(mfa)
    xh, xl = torch.randn(3, n, 16), torch.randn(3, n, 16)
    torch.testing.assert_close(mfa(xh, xl, grid), reference(mfa, xh, xl, grid, pool), atol=1e-5, rtol=1e-4)


def test_linear_attention_association_branch():
    """With more keys than inner channels PNL uses theta (phi^T g); still equals the reference."""
    torch.manual_seed(1)
    mfa = TokenMFA(8, pool=1, norm="ln")  # inner 4 < 24 keys
    perturb_norms(mfa)
    xh, xl = torch.randn(2, 24, 8), torch.randn(2, 24, 8)
    torch.testing.assert_close(mfa(xh, xl, (6, 4)), reference(mfa, xh, xl, (6, 4), 1), atol=1e-5, rtol=1e-4)


def test_pool_tokens_uneven_grid():
    x = torch.arange(18, dtype=torch.float32).reshape(1, 18, 1)  # 6x3 grid, row-major
    out = pool_tokens(x, (6, 3), 2)
    assert out.shape == (1, 3 * 2, 1)
    assert out[0, 0, 0].item() == pytest.approx((0 + 1 + 3 + 4) / 4)  # adaptive windows overlap on odd sides
    assert pool_tokens(x, (6, 3), 1) is x


def test_every_parameter_gets_a_gradient():
    mfa = TokenMFA(16, pool=2)
    perturb_norms(mfa)
    xh, xl = torch.randn(2, 12, 16, requires_grad=True), torch.randn(2, 12, 16, requires_grad=True)
    mfa(xh, xl, (4, 3)).pow(2).sum().backward()
    for name, p in mfa.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert xl.grad.abs().sum() > 0


def test_bad_inputs():
    with pytest.raises(ConfigError):
        TokenMFA(16, norm="gn")
    with pytest.raises(ConfigError):
        TokenMFA(16, pool=0)
    with pytest.raises(ShapeError):
        TokenMFA(16)(torch.randn(2, 12, 16), torch.randn(2, 10, 16), (4, 3))
