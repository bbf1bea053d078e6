"""The named terms a training objective is composed of; each is ``term(batch) -> scalar``, unweighted.

A :class:`LossBatch` carries what the model returned (:class:`~vireid.models.base.TrainOutput`)
and the batch's labels, in DEEN's layout (``DEEN/train.py``): ``P x K`` visible images then the
``P x K`` infrared images of the same identities; the model returns ``E * 2PK`` embeddings,
embedding-major ``[orig(vis, ir); gen_1(vis, ir); ...]``, so the label of every embedding is
``cat(l_vis, l_ir)`` repeated ``E`` times.  (The authors write ``cat(l1, l1, l1, l2, l2, l2)``,
the same vector because their sampler pairs labels; ours is right for any pairing.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.core.params import NON_NEGATIVE, POSITIVE, Params, declared_params
from vireid.core.registry import Entry, registry
from vireid.errors import ConfigError, PluginError, ShapeError
from vireid.losses import (
    CPMLoss,
    FeatureOrthogonality,
    IdentityLoss,
    InfoNCE,
    TripletLoss,
    WeightedRegularizedTriplet,
    WeightOrthogonality,
)
from vireid.losses.infonce import branch_infonce
from vireid.models.base import MODAL_INFRARED, MODAL_VISIBLE, TrainOutput


def at_least_fp32(t: Tensor) -> Tensor:
    """Loss inputs in float32 (float64 stays float64, for precision references)."""
    return t if t.dtype == torch.float64 else t.float()


@dataclass(frozen=True)
class LossBatch:
    out: TrainOutput
    labels_vis: Tensor
    labels_ir: Tensor

    @property
    def base_labels(self) -> Tensor:
        """(M,) labels of the input batch: visible then infrared."""
        return torch.cat((self.labels_vis, self.labels_ir)).long()

    @property
    def num_embeddings(self) -> int:
        m = self.labels_vis.shape[0] + self.labels_ir.shape[0]
        if self.out.feat.shape[0] % m:
            raise ShapeError(f"objective: {self.out.feat.shape[0]} embeddings is not a multiple of the batch {m}")
        return self.out.feat.shape[0] // m

    @property
    def labels(self) -> Tensor:
        """(E * M,) label of every embedding."""
        return self.base_labels.repeat(self.num_embeddings)

    def modality(self) -> Tensor:
        """(M,) modality code of the input batch (the model's, else visible then infrared)."""
        if self.out.modality is not None:
            return self.out.modality
        lv, li = self.labels_vis, self.labels_ir
        return torch.cat((torch.full_like(lv, MODAL_VISIBLE), torch.full_like(li, MODAL_INFRARED)))


class Term(nn.Module):
    """One named, unweighted loss term.

    A term registers under its config name (``@register_term("cpm")``: ``loss.cpm.weight``,
    ``loss.cpm.margin``); its constructor keywords, with the types and rules declared beside them,
    are its config keys besides ``weight`` (``default_weight``: its weight when the config does not
    say; 0 = off).  ``name`` is the key of its value in what the objective returns (``loss/<name>``
    in ``metrics.jsonl``).  :meth:`build` makes the weighted term(s) for a model -- none where the
    term does not apply (:meth:`applies`).

    ``compares_samples``: the term's value depends on which samples share the batch (mining,
    centres, contrastive pairs), so under ``torchrun`` it is computed on the global batch
    (:mod:`vireid.objective.global_batch`); the others are means over the rank's own samples.
    """

    name: str = ""
    compares_samples: bool = False
    default_weight: ClassVar[float] = 0.0
    #: ``(loss class, its keywords the term sets itself)`` when the term wraps a loss module: the
    #: loss's other declared keywords are config keys of the term too (``loss.cpm.margin`` is
    #: :class:`~vireid.losses.CPMLoss`'s ``margin``), so a hyperparameter of the loss is declared once,
    #: on the loss, and reaches the config with no other edit
    wraps: ClassVar[tuple[type, tuple[str, ...]] | None] = None

    @classmethod
    def applies(cls, model: nn.Module) -> bool:
        """Whether the term has something to compute for ``model`` (e.g. CPM needs generated embeddings)."""
        return True

    @classmethod
    def build(cls, model: nn.Module, weight: float, **args: Any) -> list[tuple[float, "Term"]]:
        """``[(weight, term)]`` for ``model``, or ``[]`` when the weight is 0 or the term does not apply."""
        return [(weight, cls(**args))] if weight and cls.applies(model) else []

    @classmethod
    def config_params(cls) -> Params:
        """The term's config keys besides ``weight``: the keywords :meth:`build` declares, else the
        constructor's."""
        own = declared_params(cls.build, skip=("model", "weight"))
        if own.params or not own.open:
            return own
        own = declared_params(cls)
        if cls.wraps is None:
            return own
        loss_cls, skip = cls.wraps
        inner = declared_params(loss_cls, skip=skip)
        return Params(cls.__qualname__, {**inner.params, **own.params}, inner.open)

    def forward(self, batch: LossBatch) -> Tensor:
        raise NotImplementedError


def _check(entry: Entry) -> None:
    cls = entry.obj
    if not (isinstance(cls, type) and issubclass(cls, Term)):
        raise PluginError(f"objective term {entry.name!r}: expected a Term subclass, got {cls!r}")
    try:
        params = cls.config_params()
    except TypeError as exc:
        raise PluginError(f"objective term {entry.name!r}: {exc}") from None
    if "weight" in params.params:
        raise PluginError(
            f"objective term {entry.name!r}: 'weight' is every term's own key; name the keyword otherwise"
        )


#: the objective's terms by config name (``loss.<name>``), in the order they are summed
TERMS = registry("objective term", check=_check)


def register_term(name: str):
    """Class decorator: register a :class:`Term` as ``loss.<name>`` (summed after those registered before)."""
    return TERMS.register(name)


@register_term("id")
class IdentityTerm(Term):
    """``L_id``: cross-entropy of every embedding's logits (DEEN's objective; label smoothing optional)."""

    name = "id"
    default_weight = 1.0
    wraps = (IdentityLoss, ())

    def __init__(self, **loss_args: Any) -> None:
        super().__init__()
        self.loss = IdentityLoss(**loss_args)

    def forward(self, batch: LossBatch) -> Tensor:
        return self.loss(at_least_fp32(batch.out.logits), batch.labels)


def metric_features(batch: LossBatch, normalize: bool) -> Tensor:
    feat = at_least_fp32(batch.out.feat)
    return F.normalize(feat, dim=1) if normalize else feat


@register_term("triplet")
class TripletTerm(Term):
    """``L_tri`` on all ``E * M`` pooled features: batch-hard (DEEN, margin 0.3) or AGW's WRT
    (``kind="weighted"``, no margin); ``normalize``: on L2-normalised features (off: DEEN, AGW)."""

    name = "tri"
    compares_samples = True
    default_weight = 1.0

    def __init__(
        self,
        kind: Literal["batch_hard", "weighted"] = "batch_hard",
        margin: Annotated[float, NON_NEGATIVE] = 0.3,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        if kind == "batch_hard":
            self.loss: nn.Module = TripletLoss(margin=margin)
        elif kind == "weighted":
            self.loss = WeightedRegularizedTriplet()
        else:
            raise ConfigError(f"loss.triplet.kind: unknown {kind!r}; expected batch_hard or weighted")
        self.normalize = normalize

    def forward(self, batch: LossBatch) -> Tensor:
        return self.loss(metric_features(batch, self.normalize), batch.labels)


@register_term("cpm")
class CPMTerm(Term):
    """DEEN's ``L_cpm = sum_{e>=1} CPM(cat(orig, gen_e), cat(l, l))`` (margin 0.2, lambda_1 = 0.8); only
    for models that generate embeddings (E > 1)."""

    name = "cpm"
    compares_samples = True
    default_weight = 0.8  # lambda_1, DEEN/train.py --lambda_1

    @classmethod
    def applies(cls, model: nn.Module) -> bool:
        return getattr(model, "num_embeddings", 1) > 1

    wraps = (CPMLoss, ("check_labels",))

    def __init__(self, normalize: bool = False, **loss_args: Any) -> None:
        super().__init__()
        # the CPM layout check syncs with the device; the engine's sampler is tested instead
        self.loss = CPMLoss(check_labels=False, **loss_args)
        self.normalize = normalize

    def forward(self, batch: LossBatch) -> Tensor:
        e = batch.num_embeddings
        chunks = metric_features(batch, self.normalize).chunk(e, dim=0)
        base = batch.base_labels
        pair_labels = torch.cat((base, base))
        total = batch.out.feat.new_zeros((), dtype=torch.float32)
        for c in chunks[1:]:
            total = total + self.loss(torch.cat((chunks[0], c)), pair_labels)
        return total


@register_term("ort")
class ArchitectureTerm(Term):
    """A label-free loss the model computes in ``forward`` (``TrainOutput.aux_losses[name]``),
    e.g. DEEN's orthogonal loss ``"ort"`` (:func:`vireid.losses.deen_orthogonal_loss`).

    As ``loss.ort``: one term per loss the model declares (``model.aux_loss_names``), each weighted
    ``weight`` (DEEN's lambda_2 = 0.01) unless ``weights`` gives its own."""

    default_weight = 0.01  # lambda_2, DEEN/train.py --lambda_2

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    @classmethod
    def build(
        cls, model: nn.Module, weight: float, weights: Mapping[str, Annotated[float, NON_NEGATIVE]] | None = None
    ) -> list[tuple[float, Term]]:
        names = tuple(getattr(model, "aux_loss_names", ()))
        unknown = sorted(set(weights or {}) - set(names))
        if unknown:
            raise ConfigError(
                f"loss.ort.weights: {', '.join(unknown)} not among the model's losses ({', '.join(names) or 'none'})"
            )
        out: list[tuple[float, Term]] = []
        for name in names:
            w = weight if name == "ort" else float((weights or {}).get(name, weight))
            if w:
                out.append((w, cls(name)))
        return out

    def forward(self, batch: LossBatch) -> Tensor:
        value = batch.out.aux_losses.get(self.name)
        if value is None:
            raise ConfigError(
                f"the objective has a term for the model loss {self.name!r}, which the model did "
                f"not return (it returned {sorted(batch.out.aux_losses)})"
            )
        return at_least_fp32(value)


#: ``loss.svdo_of.form``: ``(squared, batch reduction)`` of the O.F. penalty
SVDO_OF_FORMS: dict[str, tuple[bool, str]] = {
    # ABD-Net's training code: (lambda_1 - lambda_2) * beta, sum / (B / 32) (of_penalty.py:62,67)
    "abd": (False, "abd"),
    # the paper's formula (ICCV 2019, Sec. 3.2): beta * (lambda_1 - lambda_2)^2, mean over samples
    "paper": (True, "mean"),
}


@register_term("svdo_of")
class FeatureOrthogonalityTerm(Term):
    """ABD-Net's SVDO O.F. penalty (ICCV 2019, Sec. 3.2) on ``TrainOutput.of_features``, in the
    ``form`` of :data:`SVDO_OF_FORMS` (``loss.svdo_of.form``; ``"abd"``, as ABD-Net's code trains,
    by default)."""

    name = "of"

    def __init__(self, form: Literal["abd", "paper"] = "abd") -> None:
        super().__init__()
        if form not in SVDO_OF_FORMS:
            raise ConfigError(f"loss.svdo_of.form: unknown {form!r}; expected {' or '.join(SVDO_OF_FORMS)}")
        squared, reduction = SVDO_OF_FORMS[form]
        self.form = form
        self.loss = FeatureOrthogonality(beta=1.0, squared=squared, reduction=reduction)  # type: ignore[arg-type]

    def forward(self, batch: LossBatch) -> Tensor:
        maps = batch.out.of_features
        if maps is None:
            raise ConfigError(
                "loss.svdo_of.weight > 0 but the model returns no of_features "
                "(DEEN: model.args.abd_cam; DEEN-ViT: model.args.svdo_of_stages)"
            )
        return self.loss(at_least_fp32(maps))


@register_term("svdo_ow")
class WeightOrthogonalityTerm(Term):
    """ABD-Net's SVDO O.W. penalty (ICCV 2019, Sec. 3.2) on the layers the model lists
    (``model.ow_modules(reach)``): ``reach="abd"`` (the default) the layers ABD-Net's code reaches,
    of a ResNet only the stem's ``conv1``; ``"all"`` every backbone convolution, as its paper says.

    The only term that needs the model: it takes those layers when it is built."""

    name = "ow"

    @classmethod
    def build(cls, model: nn.Module, weight: float, reach: Literal["abd", "all"] = "abd") -> list[tuple[float, Term]]:
        if not weight:
            return []
        ow = getattr(model, "ow_modules", None)
        if ow is None:
            raise ConfigError(f"loss.svdo_ow.weight > 0 but {type(model).__name__} has no ow_modules()")
        return [(weight, cls(ow(reach=reach)))]

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        if not modules:
            raise ConfigError(
                "loss.svdo_ow.weight > 0 but the model lists no layers for O.W. (DEEN-ViT: model.args.svdo_ow_blocks)"
            )
        self.layers = list(modules)  # not registered: the model owns them
        # include_linear: DEEN's layers are convs, DEEN-ViT's are its blocks' Linear layers
        self.loss = WeightOrthogonality(beta=1.0, include_linear=True)

    def forward(self, batch: LossBatch) -> Tensor:
        return self.loss(self.layers)


@register_term("infonce")
class InfoNCETerm(Term):
    """Cross-modal InfoNCE: on the expansion module's branch embeddings when the model returns them
    (SS-DEC, averaged over branches), else on the original embeddings."""

    name = "nce"
    compares_samples = True

    def __init__(self, temperature: Annotated[float, POSITIVE] = 0.1) -> None:
        super().__init__()
        self.loss = InfoNCE(temperature=temperature)

    def forward(self, batch: LossBatch) -> Tensor:
        out = batch.out
        if out.branch_embeddings is not None:
            return branch_infonce(
                at_least_fp32(out.branch_embeddings), batch.base_labels, batch.modality(), self.loss.temperature
            )
        n_vis = batch.labels_vis.shape[0]
        m = n_vis + batch.labels_ir.shape[0]
        orig = at_least_fp32(out.feat)[:m]
        return self.loss(orig[:n_vis], orig[n_vis:], batch.labels_vis, batch.labels_ir)
