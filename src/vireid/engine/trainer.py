"""An explicit training loop with a few hooks (detectron2 "plain trainer" style).

::

    for epoch in range(start_epoch, epochs):
        hooks.before_epoch()
        for batch in data.batches(epoch, start_iter):   # deterministic from (seed, epoch)
            scheduler.step_to(epoch, iter)               # LR as a function of the position
            hooks.before_step(); run_step(batch); hooks.after_step()
        hooks.after_epoch()                              # evaluation, then checkpoint

``run_step``: forward under autocast, loss terms in fp32 (:class:`vireid.objective.Objective`), a
finiteness check of every term (a NaN/inf stops the run with :class:`NonFiniteLossError`
naming the step and the term, before the optimizer touches the weights, so the last
checkpoint stays the last good one), backward (GradScaler for fp16), optional gradient
clipping, optimizer step.

Exact resume: the training position is (epoch, iter).  Batches are a pure function of
(seed, epoch, index) (:class:`TrainData`), the LR a pure function of the position, and the
checkpoint holds the optimizer, GradScaler, data and RNG states of every rank, so a resumed
run repeats the uninterrupted one bit for bit (CPU, deterministic kernels).  Evaluation runs
with the RNG states saved and restored, so it never perturbs training.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import torch
from torch import Tensor, nn

from vireid.core import distributed as dist_utils
from vireid.core.device import Precision
from vireid.engine.checkpoint import rng_state, set_rng_state
from vireid.errors import CheckpointError, VireidError
from vireid.models.base import MODAL_BOTH
from vireid.optim.schedules import LRScheduler
from vireid.utils.interrupt import raise_if_interrupted

Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # x_vis, x_ir, labels_vis, labels_ir


class NonFiniteLossError(VireidError):
    """A loss term became NaN or infinite."""


class TrainData(Protocol):
    """Training batches: ``steps_per_epoch`` and ``batches(epoch, start)`` yielding
    ``(x_vis, x_ir, labels_vis, labels_ir)`` from index ``start`` of ``epoch``; the
    batches must depend only on (seed, epoch, index) for exact resume."""

    steps_per_epoch: int

    def batches(self, epoch: int, start: int = 0) -> Iterator[Batch]: ...


class HookBase:
    """Override any of these; ``self.trainer`` is set when registered."""

    trainer: "Trainer"

    def before_train(self) -> None: ...
    def after_train(self) -> None: ...
    def before_epoch(self) -> None: ...
    def after_epoch(self) -> None: ...
    def before_step(self) -> None: ...
    def after_step(self) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: Mapping) -> None: ...


class Trainer:
    """Runs the loop; hooks do evaluation, checkpointing and logging (:mod:`vireid.engine.hooks`)."""

    def __init__(
        self,
        model: nn.Module,
        objective: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: LRScheduler,
        data: TrainData,
        *,
        epochs: int,
        device: torch.device,
        precision: Precision | None = None,
        grad_clip: float | None = None,
        channels_last: bool = False,
        dist_info: dist_utils.DistInfo | None = None,
        generators: Mapping[str, torch.Generator] | None = None,
        hooks: Sequence[HookBase] = (),
    ) -> None:
        self.model = model
        self.objective = objective
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.data = data
        self.epochs = int(epochs)
        self.device = device
        self.precision = precision or Precision(None, device.type, False)
        self.scaler = self.precision.scaler()
        self.grad_clip = grad_clip
        self.channels_last = channels_last
        self.dist = dist_info or dist_utils.DistInfo()
        self.generators = dict(generators or {})
        self.steps_per_epoch = int(data.steps_per_epoch)
        self.epoch = 0  # current epoch (0-based)
        self.iter = 0  # next step index inside the epoch
        self.global_step = 0  # optimizer steps done
        self.last_losses: dict[str, float] = {}
        self.last_batch_size = 0
        self.hooks: list[HookBase] = []
        self.register_hooks(hooks)

    # ------------------------------------------------------------------ hooks
    def register_hooks(self, hooks: Sequence[HookBase]) -> None:
        for h in hooks:
            h.trainer = self
            self.hooks.append(h)

    def _call(self, name: str) -> None:
        for h in self.hooks:
            getattr(h, name)()

    # ------------------------------------------------------------------ loop
    def train(self) -> None:
        self._call("before_train")
        try:
            while self.epoch < self.epochs:
                self._call("before_epoch")
                self.model.train()
                if self.iter < self.steps_per_epoch:
                    for batch in self.data.batches(self.epoch, self.iter):
                        raise_if_interrupted()  # a Ctrl-C dropped while the loader forked its workers
                        self.scheduler.step_to(self.epoch, self.iter)
                        self._call("before_step")
                        self.run_step(batch)
                        self.iter += 1
                        self.global_step += 1
                        self._call("after_step")
                        if self.iter >= self.steps_per_epoch:
                            break
                raise_if_interrupted()
                self._call("after_epoch")
                self.epoch += 1
                self.iter = 0
        finally:
            self._call("after_train")

    def _to_device(self, batch: Batch) -> Batch:
        x_vis, x_ir, y_vis, y_ir = batch
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        nb = self.device.type == "cuda"
        return (
            x_vis.to(self.device, non_blocking=nb, memory_format=fmt),
            x_ir.to(self.device, non_blocking=nb, memory_format=fmt),
            y_vis.to(self.device, non_blocking=nb),
            y_ir.to(self.device, non_blocking=nb),
        )

    def run_step(self, batch: Batch) -> dict[str, float]:
        x_vis, x_ir, y_vis, y_ir = self._to_device(batch)
        with self.precision.autocast():
            out = self.model(x_vis, x_ir, MODAL_BOTH)
        terms = self.objective(out, y_vis, y_ir)
        total = sum(terms.values())
        values = torch.stack([t.detach().float() for t in terms.values()]).tolist()
        losses = dict(zip(terms.keys(), values, strict=True))
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            raise NonFiniteLossError(
                f"step {self.global_step + 1} (epoch {self.epoch + 1}, iteration {self.iter + 1}): "
                f"loss term '{bad[0]}' is {losses[bad[0]]} ({', '.join(f'{k}={v:.4g}' for k, v in losses.items())}); "
                "training stopped before updating the weights -- the last checkpoint is intact. "
                "Lower the learning rate, enable gradient clipping (optim.grad_clip) or check the data."
            )
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            if self.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            total.backward()
            if self.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.optimizer.step()
        losses["total"] = float(sum(values))
        self.last_losses = losses
        self.last_batch_size = (x_vis.shape[0] + x_ir.shape[0]) * self.dist.world_size
        return losses

    # ------------------------------------------------------------------ state
    def position(self) -> tuple[int, int]:
        """(epoch, iter) a resumed run starts from."""
        if self.iter >= self.steps_per_epoch:
            return self.epoch + 1, 0
        return self.epoch, self.iter

    def state_dict(self) -> dict[str, Any]:
        """Everything except the weights.  Collective under DDP (gathers every rank's RNG)."""
        epoch, it = self.position()
        state = {
            "version": 1,
            "step": self.global_step,
            "epoch": epoch,
            "iter": it,
            "steps_per_epoch": self.steps_per_epoch,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "data": self.data.state_dict() if hasattr(self.data, "state_dict") else {},
            "rng": dist_utils.all_gather_object(rng_state(self.generators)),
            "hooks": [h.state_dict() for h in self.hooks],
        }
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("steps_per_epoch") != self.steps_per_epoch:
            raise CheckpointError(
                f"checkpoint was written with {state.get('steps_per_epoch')} steps per epoch, this run has "
                f"{self.steps_per_epoch}: the data or batch size changed, cannot resume exactly"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if hasattr(self.data, "load_state_dict"):
            self.data.load_state_dict(state.get("data", {}))
        rngs = state["rng"]
        if len(rngs) != self.dist.world_size:
            raise CheckpointError(
                f"checkpoint was written by {len(rngs)} process(es), this run has "
                f"{self.dist.world_size}: cannot resume exactly"
            )
        set_rng_state(rngs[self.dist.rank], self.generators)
        saved = state["hooks"]
        if not isinstance(saved, list):
            raise CheckpointError(f"its 'hooks' is a {type(saved).__name__}, not a list of hook states")
        for i, h in enumerate(self.hooks):
            want = h.state_dict()
            if not want:  # a stateless hook (StopAtStep may be registered in only one of the two runs)
                continue
            got = saved[i] if i < len(saved) else None
            if not isinstance(got, dict) or set(got) != set(want):
                raise CheckpointError(
                    f"hook {i} ({type(h).__name__}) has no state of its own there (expected the keys "
                    f"{', '.join(sorted(want))}); it cannot resume exactly"
                )
            h.load_state_dict(got)
        self.global_step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.iter = int(state["iter"])

    # ------------------------------------------------------------------ helpers
    def preserve_rng(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (e.g. an evaluation) without changing any RNG state of training."""
        saved = rng_state(self.generators)
        try:
            return fn()
        finally:
            set_rng_state(saved, self.generators)
