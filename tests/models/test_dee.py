"""DEE: batch expansion, dilated-conv branches, dropout."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vireid.models.dee import DEE


def test_output_stacks_input_and_two_branches_on_batch():
    torch.manual_seed(0)
    dee = DEE(16).eval()
    x = torch.randn(3, 16, 6, 4)
    out = dee(x)
    assert out.shape == (9, 16, 6, 4)
    torch.testing.assert_close(out[:3], x)
    for i, branch in enumerate((dee.branch1, dee.branch2)):
        convs = branch.convs
        h = sum(F.conv2d(x, c.weight, padding=d, dilation=d) for c, d in zip(convs, (1, 2, 3), strict=True)) / 3
        expected = F.conv2d(F.relu(h), branch.fuse.weight, branch.fuse.bias)
        torch.testing.assert_close(out[3 * (i + 1) : 3 * (i + 2)], expected)
    assert not torch.allclose(out[3:6], out[6:9])  # two different generated embeddings


def test_layout_and_parameters():
    dee = DEE(32)
    assert [c.dilation for c in dee.branch1.convs] == [(1, 1), (2, 2), (3, 3)]
    assert all(c.bias is None and c.out_channels == 8 for c in dee.branch2.convs)
    assert dee.branch1.fuse.bias is not None and dee.branch1.fuse.out_channels == 32
    assert dee.dropout.p == 0.01
    n = sum(p.numel() for p in dee.parameters())
    assert n == 2 * (3 * 32 * 8 * 9 + 8 * 32 + 32)


def test_gradients_reach_every_parameter():
    dee = DEE(8, dropout=0.0)
    out = dee(torch.randn(2, 8, 4, 4))
    out[2:].square().sum().backward()
    for name, p in dee.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
