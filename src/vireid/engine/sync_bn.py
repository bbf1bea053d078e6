"""BatchNorm over the global batch of a ``torchrun`` job (synchronised BatchNorm).

One GPU running the DEEN recipe normalises each batch with the statistics of all its
6 x 4 x 2 images; W processes each holding 1/W of that batch must pool their statistics to
compute the same thing.  :func:`convert_sync_batchnorm` replaces every BatchNorm of a model:

* on CUDA by :class:`torch.nn.SyncBatchNorm` (fused kernels);
* elsewhere (CPU / gloo, where ``SyncBatchNorm`` refuses to run) by :class:`GlobalBatchNorm`:
  per-channel sums all-reduced with the differentiable
  :func:`vireid.utils.collectives.all_reduce_sum`, then the batch's mean and biased
  variance for normalising and the unbiased variance for the running statistics, as
  :func:`torch.nn.functional.batch_norm` computes them on the whole batch.

Both keep the parameters and buffers (same names, same tensors), so checkpoints are
unchanged, and both are plain BatchNorm in eval mode or outside a process group of > 1.
Gradients follow DDP's convention: the backward all-reduce sums every rank's contribution and
DDP averages the parameter gradients, which is the gradient of the one-process loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from vireid.utils.collectives import all_reduce_sum, world_size


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm (any input ``(N, C, ...)``) whose training statistics span every rank's batch."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (N, C, ...), got {input.dim()}-D")

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or world_size() == 1:
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float32, device=x.device)
        sums = all_reduce_sum(torch.cat([xf.sum(dims), count]))
        n = sums[-1]
        mean = sums[:-1] / n
        centred = xf - mean.view(shape)
        var = all_reduce_sum(centred.pow(2).sum(dims)) / n
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                unbiased = var.detach() * n / (n - 1).clamp(min=1)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        return y.to(x.dtype)


def _to_global(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, _BatchNorm) and not isinstance(module, (GlobalBatchNorm, nn.SyncBatchNorm)):
        out = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        if module.affine:
            out.weight, out.bias = module.weight, module.bias  # the same Parameters (requires_grad kept)
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _to_global(child))
    return out


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with every BatchNorm synchronised over the process group (see the module docstring)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _to_global(model)
