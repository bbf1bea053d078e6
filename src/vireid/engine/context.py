"""A run's context: device, precision and process group, decided once; dataset and evaluation wiring.

:func:`make_context` is the one device decision of a command (``train.device``, then CUDA when
available), joined to ``torch.distributed`` when launched by ``torchrun``.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from vireid.config import Config, build
from vireid.core import distributed as dist_utils
from vireid.core.device import Precision, resolve_amp, resolve_device
from vireid.engine.evaluator import SplitEvaluation, run_splits, summarize
from vireid.utils.paths import say


@contextlib.contextmanager
def cpu_threads(n: int):
    """Use ``n`` torch CPU threads inside the block (0: leave as is); restored afterwards."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class RunContext:
    device: torch.device
    precision: Precision
    dist: dist_utils.DistInfo
    log: Callable[[str], None] = field(default=say)


def make_context(cfg: Config, device: str | None = None, quiet: bool = False) -> RunContext:
    dev = resolve_device(device, "--device") if device else resolve_device(cfg.train.device)
    info = dist_utils.init_distributed(dev)
    dev = dist_utils.process_device(dev, info)
    precision = resolve_amp(cfg.train.amp, dev)
    log = say if info.is_main and not quiet else (lambda msg: None)
    return RunContext(dev, precision, info, log)


def load_dataset(cfg: Config, ctx: RunContext):
    """The dataset reader; rank 0 generates a synthetic dataset first, the others wait."""
    return dist_utils.main_rank_first(lambda: build.build_dataset(cfg.data), ctx.dist.is_main)


def evaluate_model(
    model: nn.Module, dataset, cfg: Config, ctx: RunContext, *, final: bool = True, rerank: bool = False
) -> tuple[list[SplitEvaluation], dict]:
    """``(evaluations, summary)``: with ``final`` the dataset's full protocol (every trial, every
    reported direction, ``eval.flip`` / ``eval.combine``); otherwise the evaluation that selects the
    best checkpoint during training (``eval.select``, :func:`vireid.config.build.selection_eval`)."""
    plan = build.final_eval(cfg, dataset) if final else build.selection_eval(cfg, dataset)
    splits = list(dataset.eval_splits(trials=plan["trials"], directions=plan["directions"]))
    kwargs = {**build.eval_kwargs(cfg), "flip": plan["flip"], "combine": plan["combine"]}
    results = run_splits(
        model, splits, device=ctx.device, precision=ctx.precision, dist_info=ctx.dist, rerank=rerank, **kwargs
    )
    return results, summarize(results, build.paper_columns(cfg, dataset))
