"""A training objective: a weighted list of named terms (:mod:`vireid.objective.terms`).

DEEN's overall objective (Zhang & Wang, CVPR 2023): ``L = L_id + L_tri + lambda_1 L_cpm + lambda_2 L_ort``
with lambda_1 = 0.8, lambda_2 = 0.01 (``DEEN/train.py``) is :func:`build_objective` with its
defaults.  The other terms are off unless weighted: the label-free losses of expansion modules
(their orthogonality losses, weighted lambda_2 like DEEN's unless ``aux_weights`` says otherwise),
ABD-Net's SVDO O.F. and O.W., and a cross-modal InfoNCE.  The objective returns every term
*weighted*, by name, so each can be logged; the training loss is their sum.

Under ``torchrun`` (``global_batch=True``, the default) the terms that compare samples see the
whole global batch and every returned value is the one-process value
(:mod:`vireid.objective.global_batch`); ``global_batch=False`` keeps each rank's batch apart.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from torch import Tensor, nn

from vireid.errors import ConfigError
from vireid.models.base import TrainOutput
from vireid.objective import global_batch as gb
from vireid.objective.terms import (
    ArchitectureTerm,
    CPMTerm,
    FeatureOrthogonalityTerm,
    IdentityTerm,
    InfoNCETerm,
    LossBatch,
    Term,
    TripletTerm,
    WeightOrthogonalityTerm,
)


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
    model: nn.Module,
    *,
    id_weight: float = 1.0,
    label_smoothing: float = 0.0,
    triplet: str = "batch_hard",
    triplet_weight: float = 1.0,
    triplet_margin: float = 0.3,
    cpm_weight: float = 0.8,
    cpm_margin: float = 0.2,
    metric_normalize: bool = False,
    ort_weight: float = 0.01,
    aux_weights: Mapping[str, float] | None = None,
    svdo_of_weight: float = 0.0,
    svdo_ow_weight: float = 0.0,
    infonce_weight: float = 0.0,
    infonce_temperature: float = 0.1,
    global_batch: bool = True,
) -> Objective:
    """The objective for ``model`` (its embeddings and the label-free losses it declares).

    ``model.aux_loss_names`` lists the losses the model computes in ``forward``: ``"ort"`` is
    weighted ``ort_weight`` (lambda_2), every other one ``aux_weights.get(name, ort_weight)``.
    ``metric_normalize`` computes the triplet and CPM terms on L2-normalised embeddings.
    ``global_batch``: see :class:`Objective`.
    """
    aux_weights = dict(aux_weights or {})
    terms: list[tuple[float, Term]] = []
    if id_weight:
        terms.append((id_weight, IdentityTerm(label_smoothing)))
    if triplet != "none" and triplet_weight:
        terms.append((triplet_weight, TripletTerm(triplet, triplet_margin, metric_normalize)))
    elif triplet not in ("none", "batch_hard", "weighted"):
        raise ConfigError(f"loss.triplet: unknown {triplet!r}; expected batch_hard, weighted or none")
    if cpm_weight and getattr(model, "num_embeddings", 1) > 1:
        terms.append((cpm_weight, CPMTerm(cpm_margin, metric_normalize)))
    names = tuple(getattr(model, "aux_loss_names", ()))
    unknown = sorted(set(aux_weights) - set(names))
    if unknown:
        raise ConfigError(
            f"loss.aux_weights: {', '.join(unknown)} not among the model's losses ({', '.join(names) or 'none'})"
        )
    for name in names:
        w = ort_weight if name == "ort" else float(aux_weights.get(name, ort_weight))
        if w:
            terms.append((w, ArchitectureTerm(name)))
    if svdo_of_weight:
        terms.append((svdo_of_weight, FeatureOrthogonalityTerm()))
    if svdo_ow_weight:
        ow = getattr(model, "ow_modules", None)
        if ow is None:
            raise ConfigError(f"loss.svdo_ow_weight > 0 but {type(model).__name__} has no ow_modules()")
        terms.append((svdo_ow_weight, WeightOrthogonalityTerm(ow())))
    if infonce_weight:
        terms.append((infonce_weight, InfoNCETerm(infonce_temperature)))
    return Objective(terms, global_batch=global_batch)
