"""CNL / PNL / MFA block: shapes, zero-init identity, the authors' reshapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vireid.models.mfa import CNL, PNL, MFABlock


def randomize_out_bn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0, 0.1)


def test_fresh_blocks_are_identity_on_high_level_input():
    torch.manual_seed(0)
    x_h, x_l = torch.randn(2, 32, 8, 4), torch.randn(2, 16, 16, 8)
    block = MFABlock(32, 16, stride2=True).eval()
    torch.testing.assert_close(block(x_h, x_l), x_h)  # zero-initialised output BN
    for m in (block.cnl.out.bn, block.pnl.out.bn):
        assert m.weight.abs().sum() == 0 and m.bias.abs().sum() == 0


@pytest.mark.parametrize("stride2,hw_l", [(False, (8, 4)), (True, (16, 8))])
def test_shapes_and_gradients(stride2, hw_l):
    torch.manual_seed(0)
    block = MFABlock(32, 8, stride2=stride2)
    randomize_out_bn(block)
    x_h = torch.randn(3, 32, 8, 4, requires_grad=True)
    x_l = torch.randn(3, 8, *hw_l, requires_grad=True)
    out = block(x_h, x_l)
    assert out.shape == x_h.shape
    out.square().sum().backward()
    assert x_l.grad.abs().sum() > 0
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_cnl_matches_channel_non_local_formula():
    torch.manual_seed(0)
    cnl = CNL(12, 6).eval()
    randomize_out_bn(cnl)
    x_h, x_l = torch.randn(2, 12, 4, 3), torch.randn(2, 6, 4, 3)
    q = cnl.theta(x_h).flatten(2)
    k = cnl.phi(x_l).flatten(2)
    v = cnl.g(x_l).flatten(2)
    y = torch.einsum("bcn,bdn->bcd", q, k) / 6 @ v  # (low x low) channel affinity / low_dim
    expected = cnl.out(y.reshape(2, 6, 4, 3)) + x_h
    torch.testing.assert_close(cnl(x_h, x_l), expected)


def test_pnl_uses_the_authors_channel_mixing_reshape():
    """Their .view(B, low, -1) of a (B, low/2, H, W) map: rows of H*W/2 values, two per channel."""
    torch.manual_seed(0)
    pnl = PNL(8, 4).eval()
    randomize_out_bn(pnl)
    x_h, x_l = torch.randn(1, 8, 2, 3), torch.randn(1, 4, 2, 3)
    q = pnl.theta(x_h).reshape(1, 4, 3)  # 2 channels x 6 positions -> 4 rows x 3
    k = pnl.phi(x_l).reshape(1, 4, 3)
    v = pnl.g(x_l).reshape(1, 4, 3)
    att = q.transpose(1, 2) @ k / 3
    y = (att @ v.transpose(1, 2)).transpose(1, 2).reshape(1, 2, 2, 3)
    torch.testing.assert_close(pnl(x_h, x_l), pnl.out(y) + x_h)
    # ... which is NOT the per-position non-local block of the paper's equations
    qp, kp, vp = (t.flatten(2) for t in (pnl.theta(x_h), pnl.phi(x_l), pnl.g(x_l)))
    y_paper = (vp @ (qp.transpose(1, 2) @ kp / 6).transpose(1, 2)).reshape(1, 2, 2, 3)
    assert not torch.allclose(pnl.out(y_paper) + x_h, pnl(x_h, x_l))


def test_pnl_needs_even_number_of_positions():
    pnl = PNL(8, 4)
    with pytest.raises(RuntimeError):
        pnl(torch.randn(1, 8, 3, 3), torch.randn(1, 4, 3, 3))


def test_linear_attention_reassociates_only_when_cheaper_and_equals_the_authors_order():
    from vireid.models.mfa import linear_attention

    torch.manual_seed(0)
    for q, c, m in ((1296, 64, 1296), (81, 512, 81), (64, 4, 64), (324, 256, 324)):
        query, key, value = torch.randn(2, q, c), torch.randn(2, c, m), torch.randn(2, m, c)
        authors = (query @ key / m) @ value
        out = linear_attention(query, key, value)
        torch.testing.assert_close(out, authors, rtol=1e-5, atol=1e-5)
        if q == 1296:  # 20x cheaper reassociated: rounding differs from the authors' order
            assert not torch.equal(out, authors)
        else:  # small, or not 4x cheaper: the authors' order, bit for bit
            assert torch.equal(out, authors)


def test_pnl_at_stride_4_of_288x144_equals_the_authors_order():
    from benchmarks.authors_style import authors_model  # the authors' PNL forward, op by op

    torch.manual_seed(0)
    pnl = PNL(256, 64).eval()
    with torch.no_grad():  # a fresh block's zero-initialised BN would hide the attention entirely
        pnl.out.bn.weight.normal_()
        pnl.out.bn.bias.normal_()
    authors = authors_model(pnl)
    x_h, x_l = torch.randn(2, 256, 72, 36), torch.randn(2, 64, 72, 36)
    with torch.no_grad():
        ours, theirs = pnl(x_h, x_l), authors(x_h, x_l)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert not torch.equal(ours, theirs)  # the cheaper association was taken here
