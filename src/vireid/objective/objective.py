"""A training objective: a weighted list of named terms (:mod:`vireid.objective.terms`).

DEEN's overall objective (Zhang & Wang, CVPR 2023): ``L = L_id + L_tri + lambda_1 L_cpm + lambda_2 L_ort``
with lambda_1 = 0.8, lambda_2 = 0.01 (``DEEN/train.py``) is :func:`build_objective` with its
defaults.  The other terms are off unless weighted: the label-free losses of expansion modules
(their orthogonality losses, weighted lambda_2 like DEEN's unless ``loss.ort.weights`` says
otherwise), ABD-Net's SVDO O.F. and O.W., a cross-modal InfoNCE, and the terms plugins register.
The objective returns every term *weighted*, by name, so each can be logged; the training loss is
their sum, in the order the terms are registered.

Under ``torchrun`` (``global_batch=True``, the default) the terms that compare samples see the
whole global batch and every returned value is the one-process value
(:mod:`vireid.objective.global_batch`); ``global_batch=False`` keeps each rank's batch apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Mapping, Sequence

from torch import Tensor, nn

from vireid.core.checks import check_kwargs, check_value
from vireid.core.params import NON_NEGATIVE
from vireid.errors import ConfigError
from vireid.models.base import TrainOutput
from vireid.objective import global_batch as gb
from vireid.objective.terms import TERMS, LossBatch, Term


class Objective(nn.Module):
    """``objective(out, labels_vis, labels_ir) -> {name: weighted term}`` for ``(weight, term)`` pairs.

    ``global_batch``: in a process group of W > 1, compute the terms that compare samples on
    the gathered global batch and report every term's one-process value (module docstring).
    """

    def __init__(self, terms: Sequence[tuple[float, Term]], global_batch: bool = True) -> None:
        super().__init__()
        names = [t.name for _, t in terms]
        if len(set(names)) != len(names):
            raise ConfigError(f"objective: duplicate term names {names}")
        self.weights = [float(w) for w, _ in terms]
        self.terms = nn.ModuleList(t for _, t in terms)
        self.global_batch = bool(global_batch)

    def forward(self, out: TrainOutput, labels_vis: Tensor, labels_ir: Tensor) -> dict[str, Tensor]:
        batch = LossBatch(out, labels_vis, labels_ir)
        if not self.global_batch or gb.world_size() == 1:
            return {t.name: w * t(batch) for w, t in zip(self.weights, self.terms, strict=True)}
        whole = gb.gather_batch(batch) if any(t.compares_samples for t in self.terms) else None
        values = {
            t.name: w * t(whole if t.compares_samples else batch) for w, t in zip(self.weights, self.terms, strict=True)
        }
        local = [k for k, t in zip(values, self.terms, strict=True) if not t.compares_samples]
        values.update(zip(local, gb.global_mean([values[k] for k in local]), strict=True))
        return values

    def extra_repr(self) -> str:
        return ", ".join(f"{t.name}={w:g}" for w, t in zip(self.weights, self.terms, strict=True)) + (
            "" if self.global_batch else ", per-rank batch"
        )


def build_objective(
    model: nn.Module, terms: Mapping[str, Mapping[str, Any]] | None = None, *, global_batch: bool = True
) -> Objective:
    """The objective for ``model``: every registered term (:data:`~vireid.objective.terms.TERMS`, in
    registration order) with its ``weight`` and keywords from ``terms`` (``{"cpm": {"weight": 0.4},
    ...}``, the config's ``loss`` section; a term not named keeps its default weight and keywords).
    With no ``terms`` it is DEEN's objective: ``L_id + L_tri + 0.8 L_cpm + 0.01 L_ort``.
    ``global_batch``: see :class:`Objective`."""
    given = dict(terms or {})
    unknown = [k for k in given if k not in TERMS]
    if unknown:
        raise ConfigError(f"loss.{unknown[0]}: unknown objective term; expected one of {', '.join(TERMS.names())}")
    out: list[tuple[float, Term]] = []
    for name in TERMS.names():
        cls = TERMS.get(name)
        args = dict(given.get(name) or {})
        weight = check_value(
            args.pop("weight", cls.default_weight), Annotated[float, NON_NEGATIVE], f"loss.{name}.weight"
        )
        out += cls.build(model, weight, **check_kwargs(cls.config_params(), args, f"loss.{name}"))
    return Objective(out, global_batch=global_batch)
