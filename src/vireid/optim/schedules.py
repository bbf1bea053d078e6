"""Learning-rate schedules as pure functions of the (fractional) epoch.

A schedule returns a factor that multiplies every parameter group's base LR, so the
DEEN ratio between backbone (0.01) and neck/classifier (0.1) is kept throughout.

* :class:`WarmupStep` -- DEEN's ``adjust_learning_rate`` (``DEEN/train.py``): the LR is
  set once per epoch ``e`` (0-based) to ``lr * (e + 1) / 10`` for ``e < 10``, ``lr``
  for ``10 <= e < 20``, ``0.1 lr`` for ``20 <= e < 80`` and ``0.01 lr`` after.
  (Their unreachable ``>= 120`` branch is dropped.)
* :class:`WarmupCosine` -- linear warm-up then half-cosine decay, updated every step
  (the usual ViT recipe).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch


class WarmupStep:
    """Per-epoch linear warm-up over ``warmup_epochs`` epochs, then step decay.

    ``gammas[i]`` is the cumulative factor from ``milestones[i]`` on (DEEN: 0.1 at
    epoch 20, 0.01 at epoch 80).  With ``warmup_epochs = 0`` there is no warm-up.
    """

    def __init__(
        self, warmup_epochs: float = 10, milestones: Sequence[int] = (20, 80), gammas: Sequence[float] = (0.1, 0.01)
    ) -> None:
        if len(milestones) != len(gammas):
            raise ValueError("milestones and gammas must have the same length")
        if list(milestones) != sorted(milestones):
            raise ValueError("milestones must be increasing")
        self.warmup_epochs = warmup_epochs
        self.milestones = tuple(milestones)
        self.gammas = tuple(gammas)

    per_step = False  # DEEN sets the LR once per epoch

    def __call__(self, epoch: float) -> float:
        e = math.floor(epoch)
        if e < self.warmup_epochs:
            return (e + 1) / self.warmup_epochs
        factor = 1.0
        for m, g in zip(self.milestones, self.gammas, strict=True):
            if e >= m:
                factor = g
        return factor


class WarmupCosine:
    """Linear warm-up to 1 over ``warmup_epochs``, then half-cosine to ``min_factor``.

    Per-step: called with the epoch reached at the *end* of the step (``e + (s + 1) / S``),
    so the first step has a small non-zero LR and the last step ends at ``min_factor``.
    """

    per_step = True

    def __init__(self, total_epochs: float, warmup_epochs: float = 0.0, min_factor: float = 0.0) -> None:
        if total_epochs <= 0:
            raise ValueError("total_epochs must be positive")
        self.total = float(total_epochs)
        self.warmup = float(min(warmup_epochs, total_epochs))
        self.min_factor = min_factor

    def __call__(self, epoch: float) -> float:
        if self.warmup > 0 and epoch < self.warmup:
            return max(epoch, 0.0) / self.warmup
        span = self.total - self.warmup
        t = min(max((epoch - self.warmup) / span, 0.0), 1.0) if span > 0 else 1.0
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t))


class Constant:
    per_step = False

    def __call__(self, epoch: float) -> float:
        return 1.0


class LRScheduler:
    """Sets ``group["lr"] = group["initial_lr"] * schedule(t)`` before each step.

    ``t`` is the integer epoch for per-epoch schedules and ``epoch + (step + 1) / S``
    for per-step ones.
    Stateless apart from the base LRs (kept in the optimizer's param groups as
    ``initial_lr``), so resuming only needs the epoch and step.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule, steps_per_epoch: int) -> None:
        self.optimizer = optimizer
        self.schedule = schedule
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.factor = 1.0

    def step_to(self, epoch: int, step_in_epoch: int = 0) -> float:
        t = epoch + (step_in_epoch + 1) / self.steps_per_epoch if self.schedule.per_step else epoch
        self.factor = float(self.schedule(t))
        for g in self.optimizer.param_groups:
            g["lr"] = g["initial_lr"] * self.factor
        return self.factor

    def lrs(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"factor": self.factor, "steps_per_epoch": self.steps_per_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.factor = float(state["factor"])
        for g in self.optimizer.param_groups:
            g["lr"] = g["initial_lr"] * self.factor


def build_schedule(
    name: str,
    *,
    epochs: int,
    warmup_epochs: float,
    milestones: Sequence[int],
    gammas: Sequence[float],
    min_factor: float,
):
    if name == "step":
        return WarmupStep(warmup_epochs, milestones, gammas)
    if name == "cosine":
        return WarmupCosine(epochs, warmup_epochs, min_factor)
    if name == "constant":
        return Constant()
    raise ValueError(f"unknown schedule {name!r}; expected step, cosine or constant")
