"""Differentiable collectives over the default process group (any backend: NCCL, gloo).

Backward follows DDP's convention, where each rank backpropagates its own loss and DDP
averages the parameter gradients: the gradient reaching a rank's input is the sum over the
ranks of the gradients of their outputs (``all_reduce(SUM)`` of the incoming gradients).
Used for the global-batch loss terms (:mod:`vireid.objective.global_batch`) and synchronised
BatchNorm (:mod:`vireid.engine.sync_bn`); the same semantics as
``torch.distributed.nn.functional``, without its deprecation warnings.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    """Processes in the default group (1 outside ``torch.distributed``)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _AllGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        x = x.contiguous()
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x)
        return torch.stack(out)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[dist.get_rank()]


class _AllReduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        x = x.contiguous().clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


def all_gather(x: Tensor) -> list[Tensor]:
    """Every rank's ``x`` (same shape everywhere), in rank order; differentiable."""
    if world_size() == 1:
        return [x]
    if not x.requires_grad:
        out = [torch.empty_like(x) for _ in range(world_size())]
        dist.all_gather(out, x.contiguous())
        return out
    return list(_AllGather.apply(x).unbind(0))


def all_reduce_sum(x: Tensor) -> Tensor:
    """The sum of every rank's ``x``; differentiable."""
    if world_size() == 1:
        return x
    if x.requires_grad:
        return _AllReduce.apply(x)
    out = x.contiguous().clone()
    dist.all_reduce(out)
    return out
