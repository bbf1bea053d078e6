"""Under bf16 autocast, the ops the precision audit pinned to float32 run in float32.

The audit (benchmarks/precision_audit.py) pinned MFA's attention products (CNL's channel
affinity, PNL's linear attention, with their 1/N scaling).  Every op is recorded with the
module it runs in; the pinned ones must compute in float32 -- in the forward and in the
backward -- while the convolutions around them stay bf16 (autocast is on).
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from vireid.engine.criterion import DEENCriterion
from vireid.models import DEEN

PINNED = ("mfa1.cnl", "mfa1.pnl", "mfa2.cnl", "mfa2.pnl", "mfa3.cnl", "mfa3.pnl")
PRODUCTS = {"matmul", "__matmul__", "__rmatmul__", "bmm", "mm", "__truediv__", "div"}


class Recorder(TorchFunctionMode):
    def __init__(self, stack: list[str]) -> None:
        super().__init__()
        self.stack, self.ops = stack, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            ins = [a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
            self.ops.append((self.stack[-1], getattr(func, "__name__", ""), out.dtype, ins, out))
        return out


def record_bf16_step(model: torch.nn.Module):
    stack = [""]
    for name, mod in model.named_modules():
        if name:
            mod.register_forward_pre_hook(lambda m, a, n=name: stack.append(n))
            mod.register_forward_hook(lambda m, a, o: stack.pop() and None)
    torch.manual_seed(0)
    x_vis, x_ir = torch.randn(4, 3, 64, 32), torch.randn(4, 3, 64, 32)
    labels = torch.tensor([0, 0, 1, 1])
    rec = Recorder(stack)
    with torch.autocast("cpu", dtype=torch.bfloat16), rec:
        out = model(x_vis, x_ir, 0)
    return rec.ops, out, labels


def test_pinned_ops_run_in_float32_under_bf16_autocast():
    torch.manual_seed(0)
    model = DEEN(num_classes=2, base_channels=8, layers=(1, 1, 1, 1)).train()
    for m in model.modules():  # non-zero MFA output BN, so gradients reach the attention
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    ops, out, labels = record_bf16_step(model)
    pinned = [op for op in ops if op[0] in PINNED and op[1] in PRODUCTS]
    assert len(pinned) == 6 * 3, [(o[0], o[1]) for o in pinned]  # 2 products + 1 scaling per block
    bad = [(where, name, str(dt)) for where, name, dt, ins, _ in pinned
           if dt != torch.float32 or any(i != torch.float32 for i in ins)]
    assert not bad, f"pinned ops ran in reduced precision: {bad}"
    convs = [op for op in ops if op[1] == "conv2d" and op[0].startswith(PINNED)]
    assert convs and all(dt == torch.bfloat16 for _, _, dt, _, _ in convs)  # autocast really was on
    # backward: the gradients of the pinned outputs are float32 too
    grads = []
    for _, _, _, _, t in pinned:
        if t.requires_grad:
            t.register_hook(lambda g: grads.append(g.dtype))
    sum(DEENCriterion()(out, labels, labels).values()).backward()
    assert grads and all(g == torch.float32 for g in grads)
