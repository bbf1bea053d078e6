"""Allowed values of config keys, checked when a config is loaded (before anything runs).

:mod:`vireid.config.schema` gives each key its type; :data:`RULES` narrows numbers to their
meaningful range and strings to their choices, so ``optim.lr=-1`` or ``train.epochs=0`` is a
one-line :class:`~vireid.errors.ConfigError` naming the file and line, not a failure deep in
training.  Keys not listed accept any value of their type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """``lo <= x <= hi`` (``lo_open``/``hi_open``: strict); ``None`` bounds are open-ended."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def ok(self, x: float) -> bool:
        if isinstance(x, float) and not math.isfinite(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        if self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi):
            return False
        return True

    def text(self) -> str:
        lo = "" if self.lo is None else f"{'>' if self.lo_open else '>='} {self.lo:g}"
        hi = "" if self.hi is None else f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return " and ".join(t for t in (lo, hi) if t)


POSITIVE = Range(0, lo_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_1 = Range(1)
PROBABILITY = Range(0, 1)

#: dotted key -> Range (numbers, or every item of a list) or tuple of choices (strings)
RULES: dict[str, Range | tuple[str, ...]] = {
    "data.trial": Range(1, 10),
    "data.mode": ("all", "indoor"),
    "data.shot": ("single", "multi"),
    "data.height": AT_LEAST_1,
    "data.width": AT_LEAST_1,
    "data.num_ids": AT_LEAST_1,
    "data.num_pos": AT_LEAST_1,
    "data.workers": NON_NEGATIVE,
    "data.test_batch_size": AT_LEAST_1,
    "data.pad": NON_NEGATIVE,
    "data.grayscale_p": PROBABILITY,
    "data.erasing_p": PROBABILITY,
    "data.erasing_area": PROBABILITY,
    "data.erasing_ratio": POSITIVE,
    "loss.id_weight": NON_NEGATIVE,
    "loss.label_smoothing": Range(0, 1, hi_open=True),
    "loss.triplet_weight": NON_NEGATIVE,
    "loss.triplet_margin": NON_NEGATIVE,
    "loss.cpm_weight": NON_NEGATIVE,
    "loss.cpm_margin": NON_NEGATIVE,
    "loss.ort_weight": NON_NEGATIVE,
    "loss.svdo_of_weight": NON_NEGATIVE,
    "loss.svdo_of_form": ("abd", "paper"),
    "loss.svdo_ow_weight": NON_NEGATIVE,
    "loss.infonce_weight": NON_NEGATIVE,
    "loss.infonce_temperature": POSITIVE,
    "optim.name": ("sgd", "adamw"),
    "optim.lr": POSITIVE,
    "optim.backbone_lr_mult": NON_NEGATIVE,
    "optim.momentum": Range(0, 1, hi_open=True),
    "optim.weight_decay": NON_NEGATIVE,
    "optim.betas": Range(0, 1, hi_open=True),
    "optim.schedule": ("step", "cosine", "constant"),
    "optim.warmup_epochs": NON_NEGATIVE,
    "optim.milestones": NON_NEGATIVE,
    "optim.gammas": NON_NEGATIVE,
    "optim.min_lr_factor": PROBABILITY,
    "optim.grad_clip": POSITIVE,
    "train.epochs": AT_LEAST_1,
    "train.steps_per_epoch": AT_LEAST_1,
    "train.threads": NON_NEGATIVE,
    "train.amp": ("none", "auto", "bf16", "fp16"),
    "train.checkpoint_every": NON_NEGATIVE,
    "train.log_every": AT_LEAST_1,
    "eval.every": NON_NEGATIVE,
    "eval.start": NON_NEGATIVE,
    "eval.combine": ("all", "weighted", "pool", "bn"),
    "eval.trials": AT_LEAST_1,
}


def check_value(key: str, value: Any) -> str | None:
    """Why ``value`` is not allowed for dotted ``key`` (``None`` when it is)."""
    rule = RULES.get(key)
    if rule is None or value is None:
        return None
    if isinstance(rule, tuple):
        if isinstance(value, str) and value not in rule:
            return f"expected one of {', '.join(rule)}, got {value!r}"
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    for x in items:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            continue  # the type check reports it
        if not rule.ok(x):
            where = " (every item)" if isinstance(value, (list, tuple)) else ""
            return f"must be {rule.text()}{where}, got {value!r}"
    return None
