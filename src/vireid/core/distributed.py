"""torch.distributed helpers: set-up from ``torchrun``'s ``env://``, rank-0 gating, gathering.

Launch (one machine, 2 GPUs; the recipe's 6 identities per step need W in 1, 2, 3, 6)::

    torchrun --nproc_per_node 2 -m vireid train --config deen_sysu

Several machines: add ``--nnodes N --node_rank R --rdzv_backend c10d
--rdzv_endpoint HOST:PORT`` on each.  The backend is NCCL on CUDA devices and gloo on
CPU.  Rank 0 alone logs and writes checkpoints (to a folder every rank can read, so
``--resume`` works on all of them); evaluation extracts features of a 1/world share of
the images on each rank and :func:`all_gather_cat` reassembles them in order.

By default a job of W processes trains exactly as one GPU does (the DEEN recipe): the
identity sampler splits each step's P identities over the ranks (their batches together are
the one-GPU batch), the objective all-gathers the embeddings with gradient so that batch-hard
mining and CPM's centres see the whole batch (:mod:`vireid.objective.global_batch`), and
BatchNorm is synchronised (:mod:`vireid.engine.sync_bn`, ``train.sync_bn``).  With
``data.per_rank_batch: true`` each rank draws its own P identities instead (a W times larger
batch, linear LR scaling) and the losses stay per rank.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Callable, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    process_group: bool = False  # a torch.distributed process group is set up (any world size)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """DDP on: several processes, or one process launched as a distributed job of size 1."""
        return self.world_size > 1 or self.process_group


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or another ``env://`` launcher) started this process, including
    ``torchrun --nproc_per_node 1`` (a process group of one: DDP and NCCL/gloo are used)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) >= 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group described by the ``env://`` variables (no-op when not launched).

    On CUDA the process uses GPU ``LOCAL_RANK`` (pass ``device`` as ``cuda``).
    """
    if dist.is_available() and dist.is_initialized():
        return current()
    if not launched_by_torchrun():
        return DistInfo()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, init_method="env://", timeout=datetime.timedelta(minutes=30))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, process_group=True)


def current() -> DistInfo:
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), process_group=True
        )
    return DistInfo()


def process_device(device: torch.device, info: DistInfo) -> torch.device:
    """The device of this process: ``cuda:LOCAL_RANK`` under DDP on GPUs."""
    if device.type == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return device


def wrap_ddp(model: nn.Module, device: torch.device, info: DistInfo) -> nn.Module:
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else info.local_rank] if device.type == "cuda" else None
    # buffers not synced in forward: every rank keeps its own BN statistics, as single-GPU DEEN does
    # (they start equal: DDP copies rank 0's at construction).  torch 2.13 renamed the keyword.
    keyword = "forward_sync_buffers" if "forward_sync_buffers" in _ddp_keywords() else "broadcast_buffers"
    return DistributedDataParallel(model, device_ids=ids, **{keyword: False})


def _ddp_keywords() -> set[str]:
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    return set(inspect.signature(DistributedDataParallel.__init__).parameters)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def main_rank_first(fn: Callable[[], T], is_main: bool) -> T:
    """``fn()`` on rank 0 first (e.g. a download or a generated dataset), then on the other ranks."""
    if is_main:
        out = fn()
    barrier()
    if not is_main:
        out = fn()
    return out


def all_gather_object(obj):
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_gather_cat(x: Tensor) -> Tensor:
    """Concatenate along dim 0 every rank's tensor (sizes may differ), in rank order."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    world = dist.get_world_size()
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    sizes_i = [int(s.item()) for s in sizes]
    m = max(sizes_i)
    padded = x.new_zeros((m, *x.shape[1:]))
    padded[: x.shape[0]] = x
    chunks = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(chunks, padded.contiguous())
    return torch.cat([c[:s] for c, s in zip(chunks, sizes_i, strict=True)], dim=0)


def shard_range(n: int, info: DistInfo) -> range:
    """The contiguous slice of ``range(n)`` this rank handles (for evaluation)."""
    per = (n + info.world_size - 1) // info.world_size
    return range(min(info.rank * per, n), min((info.rank + 1) * per, n))


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
