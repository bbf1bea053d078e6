"""DEE2d / DEE1d token expansion and build_expansion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vireid.errors import ConfigError, ShapeError
from vireid.models.expansion import EXPANSIONS, IdentityExpansion, build_expansion
from vireid.models.expansion.dee import DEE1d, DEE2d

B, H, W, C = 4, 4, 2, 32


def tokens() -> torch.Tensor:
    return torch.randn(B, H * W, C)


def naive(module, x: torch.Tensor, conv) -> torch.Tensor:
    """DEEN's DEE_module written per generated embedding with separate convolutions (the authors' structure)."""
    k, hidden = module.num_generated, module.dim // 4
    spatial = x.transpose(1, 2).reshape(B, C, H, W) if conv is F.conv2d else x.transpose(1, 2)
    outs = [x]
    for j in range(k):
        acc = 0
        for d, branch in zip(module.dilations, module.branches, strict=True):
            acc = acc + conv(spatial, branch.weight[j * hidden : (j + 1) * hidden], padding=d, dilation=d)
        h = F.relu(acc / len(module.dilations))
        y = conv(h, module.fuse.weight[j * C : (j + 1) * C], module.fuse.bias[j * C : (j + 1) * C])
        if module.scale is not None:
            y = y * module.scale[j]
        outs.append(y.flatten(2).transpose(1, 2))
    return torch.cat(outs, 0)


@pytest.mark.parametrize("cls,conv", [(DEE2d, F.conv2d), (DEE1d, F.conv1d)])
def test_fused_branches_equal_separate_deen_branches(cls, conv):
    torch.manual_seed(0)
    m = cls(C).eval()
    if m.scale is not None:
        with torch.no_grad():
            m.scale.copy_(torch.tensor([0.5, 2.0]))
    x = tokens()
    out, aux, branches = m(x, (H, W))
    assert out.shape == (3 * B, H * W, C) and aux == {} and branches is None
    torch.testing.assert_close(out, naive(m, x, conv), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["dee", "dee1d"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_shapes_first_chunk_and_diversity(name, k):
    torch.manual_seed(0)
    m = build_expansion(name, C, num_generated=k).eval()
    assert m.num_generated == k
    x = tokens()
    out, _, _ = m(x, (H, W))
    chunks = out.reshape(1 + k, B, H * W, C)
    torch.testing.assert_close(chunks[0], x)
    for i in range(1, 1 + k):
        assert (chunks[i] - x).abs().mean() > 1e-3
        for j in range(1, i):
            assert (chunks[i] - chunks[j]).abs().mean() > 1e-3


def test_2d_and_1d_differ_on_the_grid():
    """DEE2d mixes vertical neighbours (a 2D receptive field); DEE1d only sequence neighbours."""
    torch.manual_seed(0)
    m2, m1 = DEE2d(C).eval(), DEE1d(C).eval()
    x = torch.zeros(1, H * W, C)
    x[0, 0] = 1.0  # impulse at grid (0, 0)
    zero = torch.zeros_like(x)
    with torch.no_grad():  # response per token of the generated embeddings (minus the bias-only output)
        y2 = (m2(x, (H, W))[0][1:] - m2(zero, (H, W))[0][1:]).abs().sum(-1)
        y1 = (m1(x, (H, W))[0][1:] - m1(zero, (H, W))[0][1:]).abs().sum(-1)
    # token (3, 0) = index 6 is 3 rows below: reached by the dilation-3 kernel in 2D, 6 steps away in 1D
    assert (y2[:, 6] > 1e-6).all() and (y1[:, 6] < 1e-7).all()


def test_every_parameter_gets_a_gradient_and_dropout_in_training():
    for m in (DEE2d(C), DEE1d(C)):
        x = tokens().requires_grad_(True)
        out, _, _ = m.train()(x, (H, W))
        out.pow(2).sum().backward()
        for name, p in m.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    m = DEE2d(C, dropout=0.5).train()
    torch.manual_seed(0)
    assert not torch.allclose(m(tokens(), (H, W))[0][:B], m.eval()(tokens(), (H, W))[0][:B])


def test_none_is_identity():
    m = build_expansion("none", C)
    assert isinstance(m, IdentityExpansion) and m.num_generated == 0
    x = tokens()
    out, aux, branches = m(x, (H, W))
    assert out is x and aux == {} and branches is None


def test_build_expansion_errors_and_table():
    assert set(EXPANSIONS) == {"none", "dee", "dee1d", "tmhee", "cmatm", "ssdec"}
    with pytest.raises(ConfigError, match="unknown expansion 'deen'"):
        build_expansion("deen", C)
    with pytest.raises(ConfigError):
        DEE2d(30)  # not divisible by the 4x reduction
    with pytest.raises(ConfigError):
        DEE2d(C, num_generated=0)
    with pytest.raises(ShapeError, match="do not fill the 4x2 patch grid"):
        DEE2d(C)(torch.randn(B, 9, C), (H, W))
    with pytest.raises(ShapeError, match="channels"):
        DEE1d(C)(torch.randn(B, 8, 16), (H, W))
