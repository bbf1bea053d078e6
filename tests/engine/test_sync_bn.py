"""Synchronised BatchNorm: the conversion keeps every parameter and buffer, and outside a process
group of > 1 it is plain BatchNorm (the 2-process equality is in tests/engine/test_distributed.py)."""

import torch
from torch import nn

from vireid.engine.sync_bn import GlobalBatchNorm, convert_sync_batchnorm
from vireid.models import DEEN


def test_conversion_keeps_parameters_buffers_and_outputs():
    torch.manual_seed(0)
    model = DEEN(5, base_channels=4, layers=(1, 1, 1, 1), dee_dropout=0.0)
    ref = DEEN(5, base_channels=4, layers=(1, 1, 1, 1), dee_dropout=0.0)
    ref.load_state_dict(model.state_dict())
    params = {n: p for n, p in model.named_parameters()}
    out = convert_sync_batchnorm(model, torch.device("cpu"))
    assert out is model
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert bns and all(isinstance(m, GlobalBatchNorm) for m in bns)
    assert all(p is params[n] for n, p in model.named_parameters())  # the optimiser's tensors
    assert not model.bottleneck.bias.requires_grad  # DEEN's frozen BNNeck shift
    assert model.state_dict().keys() == ref.state_dict().keys()
    x = torch.randn(4, 3, 32, 16)
    for mode in (True, False):
        model.train(mode)
        ref.train(mode)
        a, b = model(x, x.flip(3)), ref(x, x.flip(3))
        assert torch.allclose(a[0], b[0], atol=1e-6)
    for (n, a), (_, b) in zip(model.named_buffers(), ref.named_buffers(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), n  # same running statistics
