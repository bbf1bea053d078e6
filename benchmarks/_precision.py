"""Machinery of the precision audit: one DEEN training step in a chosen precision, op by op.

* :func:`step_gradients` runs forward (under a precision plan), the training criterion
  (outside autocast, as :class:`vireid.engine.trainer.Trainer` does) and backward on a copy
  of the model, and returns every parameter's gradient in float64.
* :class:`Plan` decides the precision of every op from where it runs (the innermost module's
  qualified name; ``""`` is the model's own ``forward``, e.g. pooling and DEEN's orthogonal
  Gram) and what it is (:func:`op_kind`): ``default`` everywhere, ``other`` for the ops of
  the listed ``(module prefix, kinds)`` classes.  It is a ``TorchFunctionMode``: each op runs
  either under ``torch.autocast`` (the reduced dtype) or with autocast disabled and its
  reduced-precision inputs cast to float32.  An all-reduced plan gives the same gradients as
  a plain ``torch.autocast`` block (checked by the audit), so one mechanism serves every row.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from vireid.utils.precision import fp32_pins

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stems", ("stem_visible.", "stem_infrared.")),
    ("layer1", ("backbone.layer1.",)),
    ("layer2", ("backbone.layer2.",)),
    ("layer3", ("backbone.layer3.",)),
    ("layer4", ("backbone.layer4.",)),
    ("mfa1", ("mfa1.",)),
    ("mfa2", ("mfa2.",)),
    ("mfa3", ("mfa3.",)),
    ("dee", ("dee.",)),
    ("head", ("bottleneck.", "classifier.")),
)
REDUCED = (torch.bfloat16, torch.float16)

_KINDS = {
    "conv2d": "conv",
    "matmul": "matmul",
    "__matmul__": "matmul",
    "__rmatmul__": "matmul",
    "bmm": "matmul",
    "mm": "matmul",
    "addmm": "matmul",
    "baddbmm": "matmul",
    "linear": "linear",
    "batch_norm": "bn",
    "adaptive_avg_pool2d": "pool",
    "max_pool2d": "pool",
}


def op_kind(func: Callable) -> str:
    """``conv``, ``matmul``, ``linear``, ``bn``, ``pool`` or ``other`` (element-wise, reshapes ...)."""
    return _KINDS.get(getattr(func, "__name__", ""), "other")


def _upcast(x):
    if isinstance(x, Tensor):
        return x.float() if x.dtype in REDUCED else x
    if isinstance(x, (list, tuple)):
        return type(x)(_upcast(v) for v in x)
    return x


@dataclass
class Plan:
    """Precision of each op: ``default`` ("low" or "fp32") except ``other`` for ``exceptions``.

    ``exceptions``: ``(module prefix, kinds)`` pairs; prefix ``"*"`` matches every module,
    ``""`` only the model's own forward; kinds ``None`` means every kind.
    """

    dtype: torch.dtype = torch.bfloat16
    default: str = "low"
    exceptions: Sequence[tuple[str, frozenset[str] | None]] = ()
    device_type: str = "cpu"

    def precision_of(self, module: str, kind: str) -> str:
        for prefix, kinds in self.exceptions:
            where = prefix == "*" or (
                module == prefix if prefix == "" else module == prefix or module.startswith(prefix + ".")
            )
            if where and (kinds is None or kind in kinds):
                return "fp32" if self.default == "low" else "low"
        return self.default


class _PlanMode(TorchFunctionMode):
    def __init__(self, plan: Plan, stack: list[str]) -> None:
        super().__init__()
        self.plan, self.stack = plan, stack

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.plan.precision_of(self.stack[-1], op_kind(func)) == "fp32":
            with torch.autocast(self.plan.device_type, enabled=False):
                return func(*_upcast(args), **_upcast(kwargs))
        with torch.autocast(self.plan.device_type, dtype=self.plan.dtype):
            return func(*args, **kwargs)


class _RoundForward(torch.autograd.Function):
    """Forward: round to the reduced dtype (kept in float32); backward: identity."""

    @staticmethod
    def forward(ctx, x: Tensor, dtype: torch.dtype) -> Tensor:  # type: ignore[override]
        return x.to(dtype).to(x.dtype)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        return g, None


class _RoundBackward(torch.autograd.Function):
    """Forward: identity; backward: round the gradient to the reduced dtype."""

    @staticmethod
    def forward(ctx, x: Tensor, dtype: torch.dtype) -> Tensor:  # type: ignore[override]
        ctx.dtype = dtype
        return x.clone()

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        return g.to(ctx.dtype).to(g.dtype), None


def _map(fn, x):
    if isinstance(x, Tensor):
        return fn(x) if x.is_floating_point() and x.requires_grad else x
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_map(fn, v) for v in x)
    return x


class _SimulateMode(TorchFunctionMode):
    """Every op in float32, with reduced-precision rounding in one direction only.

    ``forward``: autocast ops (conv, matmul, linear) round their inputs, and every op its
    output, to ``dtype`` -- the values of a bf16-autocast forward -- while backward is exact
    float32 (straight-through rounding).  ``backward``: forward exact, the gradient of every
    op's output rounded to ``dtype`` -- the rounding of a bf16 backward.
    """

    def __init__(self, dtype: torch.dtype, direction: str, what: str = "all") -> None:
        super().__init__()
        self.dtype, self.direction, self.what = dtype, direction, what

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.direction == "forward":
            rnd = lambda t: _RoundForward.apply(t, self.dtype)  # noqa: E731
            if op_kind(func) in ("conv", "matmul", "linear"):
                if self.what in ("all", "inputs", "weights", "activations"):
                    args = type(args)(
                        rnd(a)
                        if isinstance(a, Tensor)
                        and a.is_floating_point()
                        and a.requires_grad
                        and (self.what in ("all", "inputs") or (self.what == "weights") == isinstance(a, nn.Parameter))
                        else a
                        for a in args
                    )
            out = func(*args, **kwargs)
            return _map(rnd, out) if self.what in ("all", "outputs") else out
        return _map(lambda t: _RoundBackward.apply(t, self.dtype), func(*args, **kwargs))


@contextlib.contextmanager
def simulate(direction: str, dtype: torch.dtype = torch.bfloat16, what: str = "all"):
    """Forward-only or backward-only reduced-precision rounding (see :class:`_SimulateMode`)."""
    with _SimulateMode(dtype, direction, what):
        yield


@contextlib.contextmanager
def apply_plan(model: nn.Module, plan: Plan):
    """Run ``model``'s forward under ``plan`` inside the block."""
    stack = [""]
    handles = []

    def leave(module, args, output) -> None:
        stack.pop()

    for name, mod in model.named_modules():
        if name:
            handles.append(mod.register_forward_pre_hook(lambda m, a, n=name: stack.append(n)))
            handles.append(mod.register_forward_hook(leave))
    try:
        with _PlanMode(plan, stack):
            yield
    finally:
        for h in handles:
            h.remove()


@dataclass
class Step:
    """How one audited step runs: model dtype, and either a plan, plain autocast or nothing."""

    dtype: torch.dtype = torch.float32  # weights and images (float64 for the reference)
    autocast: torch.dtype | None = None  # plain torch.autocast block around forward
    plan: Plan | None = None
    simulate: str | None = None  # "forward" / "backward" rounding only (bf16)
    loss_scale: float = 1.0  # fp16: static loss scale (halved until finite)
    seed: int = 0  # RNG seed of the step (dropout masks)
    extra: dict = field(default_factory=dict)


def step_gradients(model: nn.Module, batch, criterion: nn.Module, step: Step) -> dict[str, Tensor] | None:
    """``{parameter name: gradient (float64)}`` of one training step of a copy of ``model``
    (``None`` when the loss is not finite).  Every call draws the same random numbers
    (``step.seed``), so the compared steps share DEE's dropout masks."""
    scale = step.loss_scale
    with torch.random.fork_rng():
        while True:
            torch.manual_seed(step.seed)
            grads, finite = _one_step(model, batch, criterion, step, scale)
            if grads is None or finite or scale <= 1.0:
                return grads
            scale /= 2  # fp16: the scaled gradients overflowed


def _one_step(
    model: nn.Module, batch, criterion: nn.Module, step: Step, scale: float
) -> tuple[dict[str, Tensor] | None, bool]:
    x_vis, x_ir, y_vis, y_ir = batch
    m = copy.deepcopy(model).to(step.dtype).train()
    xv, xi = x_vis.to(step.dtype), x_ir.to(step.dtype)
    if step.plan is not None:  # plans describe the model without vireid's float32 pins
        ctx = contextlib.ExitStack()
        ctx.enter_context(fp32_pins(False))
        ctx.enter_context(apply_plan(m, step.plan))
    elif step.simulate is not None:
        direction, _, what = step.simulate.partition(":")
        ctx = simulate(direction, what=what or "all")
    elif step.autocast is not None:
        ctx = torch.autocast("cpu", dtype=step.autocast)
    else:
        ctx = contextlib.nullcontext()
    with ctx:
        out = m(xv, xi, 0)
    total = sum(criterion(out, y_vis, y_ir).values())
    if not bool(torch.isfinite(total)):
        return None, False  # the forward overflowed: no loss scale helps
    (total * scale).backward()
    grads = {n: p.grad.double() / scale for n, p in m.named_parameters() if p.grad is not None}
    return grads, all(bool(torch.isfinite(g).all()) for g in grads.values())


def group_errors(grads: dict[str, Tensor] | None, ref: dict[str, Tensor]) -> dict[str, float]:
    """Relative L2 difference ``|g - g_ref| / |g_ref|`` per module group and ``all``; ``cos``
    (all NaN when ``grads`` is None)."""
    if grads is None:
        return {
            **{g: float("nan") for g, p in GROUPS if any(n.startswith(p) for n in ref)},
            "all": float("nan"),
            "cos": float("nan"),
        }
    out: dict[str, float] = {}
    num_all = den_all = dot = sq = 0.0
    for group, prefixes in GROUPS:
        num = den = 0.0
        for n, r in ref.items():
            if n.startswith(prefixes):
                g = grads.get(n, torch.zeros_like(r))
                num += float((g - r).pow(2).sum())
                den += float(r.pow(2).sum())
                dot += float((g * r).sum())
                sq += float(g.pow(2).sum())
        if den:
            out[group] = math.sqrt(num / den)
        num_all, den_all = num_all + num, den_all + den
    out["all"] = math.sqrt(num_all / den_all)
    out["cos"] = dot / math.sqrt(sq * den_all) if sq and den_all else float("nan")
    return out
