"""Optimisers and learning-rate schedules, buildable without the training engine (DEEN's two
learning rates, warm-up + steps or cosine)."""

from vireid.optim.optimizers import build_optimizer, split_parameters
from vireid.optim.schedules import Constant, LRScheduler, WarmupCosine, WarmupStep, build_schedule

__all__ = [
    "Constant",
    "LRScheduler",
    "WarmupCosine",
    "WarmupStep",
    "build_optimizer",
    "build_schedule",
    "split_parameters",
]
