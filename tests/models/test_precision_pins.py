"""Under bf16 autocast, the ops the precision audit pinned to float32 run in float32.

The audit (benchmarks/precision_audit.py) pinned the ResNet stems (conv1, bn1, ReLU,
max-pool: the ops on the images).  Every op is recorded with the module it runs in; the
pinned ones must compute in float32 -- forward and backward -- while the convolutions after
them stay bf16 (autocast is on).
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from vireid.models import DEEN
from vireid.models.resnet import ResNet
from vireid.objective import build_objective

PINNED = ("stem_visible", "stem_infrared")


class Recorder(TorchFunctionMode):
    """Records ``(module, op, output dtype, input dtypes, output)`` of every floating-point op."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.stack, self.ops = [""], []
        for name, mod in model.named_modules():
            if name:
                mod.register_forward_pre_hook(lambda m, a, n=name: self.stack.append(n))
                mod.register_forward_hook(lambda m, a, o: self.stack.pop() and None)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            ins = [a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
            self.ops.append((self.stack[-1], getattr(func, "__name__", ""), out.dtype, ins, out))
        return out


def test_deen_stems_run_in_float32_under_bf16_autocast():
    torch.manual_seed(0)
    model = DEEN(num_classes=2, base_channels=8, layers=(1, 1, 1, 1)).train()
    x_vis, x_ir = torch.randn(4, 3, 64, 32), torch.randn(4, 3, 64, 32)
    labels = torch.tensor([0, 0, 1, 1])
    rec = Recorder(model)
    with torch.autocast("cpu", dtype=torch.bfloat16), rec:
        out = model(x_vis, x_ir, 0)
    pinned = [op for op in rec.ops if op[0].startswith(PINNED)]
    kinds = {name for _, name, _, _, _ in pinned}
    assert {"conv2d", "batch_norm", "relu", "max_pool2d"} <= kinds, kinds
    bad = [
        (where, name, str(dt))
        for where, name, dt, ins, _ in pinned
        if dt != torch.float32 or any(i != torch.float32 for i in ins)
    ]
    assert not bad, f"pinned ops ran in reduced precision: {bad}"
    after = [op for op in rec.ops if op[1] == "conv2d" and op[0].startswith("backbone.layer1")]
    assert after and all(dt == torch.bfloat16 for _, _, dt, _, _ in after)  # autocast really was on
    grads = []  # backward: the gradients of the stems' outputs are float32 too
    for _, _, _, _, t in pinned:
        if t.requires_grad:
            t.register_hook(lambda g: grads.append(g.dtype))
    sum(build_objective(model)(out, labels, labels).values()).backward()
    assert grads and all(g == torch.float32 for g in grads)


def test_resnet_stem_runs_in_float32_under_bf16_autocast():
    model = ResNet((1, 1), base_channels=8, num_classes=None)
    rec = Recorder(model)
    with torch.autocast("cpu", dtype=torch.bfloat16), rec:
        model(torch.randn(2, 3, 32, 32))
    stem = [op for op in rec.ops if op[0] in ("conv1", "bn1", "relu", "maxpool")]
    assert len(stem) == 4 and all(dt == torch.float32 for _, _, dt, _, _ in stem)
    assert all(dt == torch.bfloat16 for where, n, dt, _, _ in rec.ops if n == "conv2d" and where.startswith("layer1"))
