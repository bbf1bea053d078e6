"""Optimisers with DEEN's two learning rates.

DEEN (``DEEN/train.py``) trains the BNNeck (``bottleneck``) and the ``classifier`` at
the base LR (0.1) and every other parameter at 0.1x that (0.01), with SGD (momentum
0.9, Nesterov, weight decay 5e-4 on all parameters).  We build two groups: group 0
"backbone" (everything else) and group 1 "head" (parameters inside a sub-module whose
attribute name is in ``head_modules``) -- the authors' three groups with the two head
groups merged, which is the same update.

For AdamW (ViT recipe) 1-D parameters (norm weights, biases, tokens of shape (1, 1, D)
are not 1-D and keep decay) get no weight decay, as is usual for transformers.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from vireid.errors import ConfigError


def split_parameters(model: nn.Module, head_modules: Sequence[str]) -> tuple[list, list]:
    """(backbone params, head params) -- head: any name component in ``head_modules``.  Names that
    match no module at all are refused (every parameter would silently train at the backbone LR);
    some may match nothing, as a variant may lack an optional module (``mfa`` switched off)."""
    head_set = set(head_modules)
    backbone, head = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (head if head_set.intersection(name.split(".")[:-1]) else backbone).append(p)
    modules = {part for name, _ in model.named_parameters() for part in name.split(".")[:-1]}
    if head_set and not head_set & modules:
        tops = sorted({name.split(".")[0] for name, _ in model.named_parameters() if "." in name})
        raise ConfigError(
            f"optim.head_modules: {', '.join(sorted(head_set))} name no module of {type(model).__name__}, so no "
            f"parameter would train at optim.lr; its modules include {', '.join(tops)}"
        )
    return backbone, head


def build_optimizer(
    model: nn.Module,
    *,
    name: str = "sgd",
    lr: float = 0.1,
    backbone_lr_mult: float = 0.1,
    head_modules: Sequence[str] = ("bottleneck", "classifier"),
    momentum: float = 0.9,
    nesterov: bool = True,
    weight_decay: float = 5e-4,
    betas: Sequence[float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """SGD (DEEN) or AdamW with the backbone at ``lr * backbone_lr_mult`` and the head at ``lr``."""
    backbone, head = split_parameters(model, head_modules)
    if name == "sgd":
        groups = [
            {"params": backbone, "lr": lr * backbone_lr_mult, "name": "backbone"},
            {"params": head, "lr": lr, "name": "head"},
        ]
        return torch.optim.SGD(
            [g for g in groups if g["params"]], lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
        )
    if name == "adamw":
        groups = []
        for gname, params, mult in (("backbone", backbone, backbone_lr_mult), ("head", head, 1.0)):
            decay = [p for p in params if p.dim() > 1]
            no_decay = [p for p in params if p.dim() <= 1]
            groups.append({"params": decay, "lr": lr * mult, "weight_decay": weight_decay, "name": gname})
            groups.append({"params": no_decay, "lr": lr * mult, "weight_decay": 0.0, "name": f"{gname}_no_decay"})
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=tuple(betas))
    raise ValueError(f"unknown optimizer {name!r}; expected sgd or adamw")
