"""The configuration schema: frozen dataclasses, one per section, each key declared once.

Every field carries its type, default and allowed values (``Annotated`` rules of
:mod:`vireid.core.params`), so a YAML file lists only what it changes and ``optim.lr=-1`` is one
line naming the key, the value and what is allowed.  The sections that extend with plugins are
checked against what their classes declare (:mod:`vireid.config.validate`):

* ``data``: the fields below, plus the options of the dataset ``data.dataset`` names (its
  constructor keywords, e.g. SYSU-MM01's ``mode`` and ``shot``, RegDB's ``trial``);
* ``model.args``: the constructor keywords of the model ``model.name`` names;
* ``loss``: one sub-section per objective term (``loss.cpm.weight``, ``loss.cpm.margin``), its keys
  the term's declared keywords (:mod:`vireid.objective.terms`);
* ``data.synth``: the synthetic generator's options.

The library never mutates a config: use :func:`vireid.config.loader.apply_overrides` to derive one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Mapping, Optional

from vireid.core.params import (
    AT_LEAST_1,
    NON_NEGATIVE,
    NOT_EMPTY,
    POSITIVE,
    PROBABILITY,
    UNIT_OPEN,
    WORKERS,
    Ascending,
    KwargsOf,
    Length,
    Range,
    Registered,
)
from vireid.data.datasets import DATASETS
from vireid.data.synth.generator import synth_options
from vireid.data.transforms import IMAGENET_MEAN
from vireid.evaluation.result import SCORE_NAMES
from vireid.models.registry import MODELS

SEED = Annotated[int, Range(0, 2**63, hi_open=True)]
MAX_EPOCHS = 100_000  # the papers train 120-151; far more is a typo (10^23 was accepted and ran forever)


@dataclass(frozen=True)
class DataConfig:
    """Dataset, sampler and augmentation (DEEN recipe defaults, SYSU-MM01 layout)."""

    dataset: Annotated[str, Registered(DATASETS)] = "sysu"
    root: Annotated[str, NOT_EMPTY] = "data/SYSU-MM01"
    height: Annotated[int, AT_LEAST_1] = 384  # DEEN/train.py --img_h 384 --img_w 144
    width: Annotated[int, AT_LEAST_1] = 144
    num_ids: Annotated[int, AT_LEAST_1] = 6  # P identities per step (split over the ranks under torchrun)
    num_pos: Annotated[int, AT_LEAST_1] = 4  # K images per identity and modality: a step's batch is 2*P*K images
    workers: Annotated[int, WORKERS] = 4
    test_batch_size: Annotated[int, AT_LEAST_1] = 64
    pad: Annotated[int, NON_NEGATIVE] = 10
    flip: bool = True
    grayscale_p: Annotated[float, PROBABILITY] = 0.5
    erasing_p: Annotated[float, PROBABILITY] = 0.5
    # random erasing's (sl, sh); null: the dataset's recipe (DEEN: (0.2, 0.8) on SYSU, (0.02, 0.4) on RegDB/LLCM)
    erasing_area: Annotated[Optional[tuple[float, float]], Range(0, 1, lo_open=True), Ascending()] = None
    erasing_ratio: Annotated[float, POSITIVE] = 0.3
    # fill after normalisation: DEEN the ImageNet mean, AGW 0
    erasing_value: tuple[float, float, float] = IMAGENET_MEAN
    channel_aug: Optional[Literal["exchange", "adapt_gray"]] = None  # CAJ channel augmentation
    cache: bool = False  # keep decoded training images in RAM
    draft: bool = False  # JPEG draft decoding (pre-shrunk by 2^k) of training images; off:
    # full decode + Lanczos resize, as the authors' loaders
    per_rank_batch: bool = False  # torchrun: each rank draws its own P ids (global batch x W, LR x W)
    # non-empty: generate (or reuse) a synthetic dataset in the ``dataset`` layout at ``root``
    # first; keys are vireid.data.synth.ensure_dataset options (num_ids, seed, difficulty, ...)
    synth: Annotated[dict, KwargsOf(synth_options())] = field(default_factory=dict)
    # the dataset's own options (``data.mode``, ``data.trial``, ...): written flat in ``data``
    options: dict = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        """A dataset option by name (``cfg.data.mode``, ``cfg.data.trial``)."""
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"data has no key {name!r} (dataset {self.__dict__.get('dataset')!r})")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture name and its constructor keyword arguments (num_classes is added)."""

    name: Annotated[str, Registered(MODELS)] = "deen"
    args: dict = field(default_factory=dict)  # checked against the model's declared keywords
    # backbone initialisation: a name of vireid.models.pretrained ("imagenet": the family's
    # default, torchvision's ResNet-50 V1 for DEEN), a file path, or "none" (from scratch)
    pretrained: Annotated[Optional[str], NOT_EMPTY] = "imagenet"


def _default_terms() -> dict[str, dict[str, Any]]:
    from vireid.config.validate import resolve_terms

    return resolve_terms({})


@dataclass(frozen=True)
class LossConfig:
    """The objective: ``{term: {"weight": w, **its keywords}}`` for every registered term
    (:data:`vireid.objective.terms.TERMS`; DEEN's objective, CVPR 2023: L = L_id + L_tri + l1 L_cpm
    + l2 L_ort by default).  ``cfg.loss.cpm_weight``-style names of vireid 0.1 still read."""

    terms: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _default_terms())

    def __getattr__(self, name: str) -> Any:
        from vireid.config.legacy import legacy_loss_value

        found, value = legacy_loss_value(self.__dict__.get("terms", {}), name)
        if found:
            return value
        raise AttributeError(f"loss has no key {name!r}")

    def weight(self, term: str) -> float:
        return float(self.terms.get(term, {}).get("weight", 0.0))


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and LR schedule (DEEN: SGD + warm-up + steps; ViT: AdamW + cosine)."""

    name: Literal["sgd", "adamw"] = "sgd"
    lr: Annotated[float, POSITIVE] = 0.1  # LR of the neck/classifier
    backbone_lr_mult: Annotated[float, NON_NEGATIVE] = 0.1  # LR of everything else = lr * mult (DEEN: 0.01)
    head_modules: tuple[str, ...] = ("bottleneck", "classifier")
    momentum: Annotated[float, UNIT_OPEN] = 0.9
    nesterov: bool = True
    weight_decay: Annotated[float, NON_NEGATIVE] = 5e-4
    betas: Annotated[tuple[float, float], UNIT_OPEN] = (0.9, 0.999)
    schedule: Literal["step", "cosine", "constant"] = "step"
    warmup_epochs: Annotated[float, NON_NEGATIVE] = 10.0
    milestones: Annotated[tuple[int, ...], NON_NEGATIVE, Ascending(strict=True)] = (20, 80)
    gammas: Annotated[tuple[float, ...], NON_NEGATIVE] = (0.1, 0.01)  # cumulative factors after each milestone
    min_lr_factor: Annotated[float, PROBABILITY] = 0.0  # cosine floor, as a fraction of the base LR
    grad_clip: Annotated[Optional[float], POSITIVE] = None  # max global L2 norm


@dataclass(frozen=True)
class TrainConfig:
    """Loop, precision, device and bookkeeping."""

    epochs: Annotated[int, Range(1, MAX_EPOCHS)] = 151  # DEEN/train.py: range(0, 151)
    # None: the authors' max(#visible, #infrared) // (P*K) + 1
    steps_per_epoch: Annotated[Optional[int], AT_LEAST_1] = None
    seed: SEED = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: Annotated[int, WORKERS] = 0  # torch CPU threads (0: torch's default); 1 is best on a busy CPU
    amp: Literal["none", "auto", "bf16", "fp16"] = "none"
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = True  # torchrun with W > 1 processes: BatchNorm statistics over the global batch
    deterministic: bool = False
    checkpoint_every: Annotated[int, NON_NEGATIVE] = 0  # steps between "last" checkpoints (0: every epoch)
    log_every: Annotated[int, AT_LEAST_1] = 20
    progress: bool = True
    tensorboard: bool = True
    # a vireid checkpoint (file or run folder) whose weights start the run (fine-tuning): every
    # tensor must fit, except a classifier sized for another number of identities, which is left
    init_from: Annotated[Optional[str], NOT_EMPTY] = None


@dataclass(frozen=True)
class EvalConfig:
    """Periodic and final evaluation."""

    every: Annotated[int, NON_NEGATIVE] = 1  # epochs between evaluations (0: only at the end)
    start: Annotated[int, NON_NEGATIVE] = 2  # first epoch (1-based count) evaluated (DEEN: epoch index > 0)
    metric: Literal[SCORE_NAMES] = "rank1"  # which metric selects the best checkpoint
    # the periodic evaluation that selects the best checkpoint: "authors" (DEEN/train.py: trial 0,
    # the protocol's first direction, all embeddings, no flip) or "protocol" (eval.trials trials,
    # every direction averaged, eval.flip / eval.combine); the final evaluation is always the full protocol
    select: Literal["authors", "protocol"] = "authors"
    # the direction select=authors evaluates (None: the protocol's first, DEEN/train.py's test_mode;
    # AGW on LLCM: visible_to_infrared, AGW/train.py's test_mode = [2, 1]); a direction of the dataset's protocol
    select_direction: Optional[str] = None
    # {published column: our direction} that metrics.json names as the paper's (empty: the
    # protocol's, as DEEN's test.py computes them; a *_paper direction named here is evaluated)
    paper_columns: dict[str, str] = field(default_factory=dict)
    flip: bool = True
    combine: Literal["all", "weighted", "pool", "bn"] = "all"  # see ReIDModel.embed
    trials: Annotated[Optional[int], AT_LEAST_1] = (
        None  # with select=protocol: limit trials during training (None: all)
    )


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # plugin modules to import before the config is checked (their datasets, models, terms, expansions)
    imports: Annotated[tuple[str, ...], Length(0, None)] = ()
    # {loss term: reason}: weighted terms this recipe keeps outside the balance band at initialisation
    # on purpose (tests/config/test_balance.py checks every shipped config against the band)
    balance_exceptions: dict[str, str] = field(default_factory=dict)


#: the keys that change nothing a run computes (display, logging, loading speed): the only ones a
#: ``--resume`` may change, besides ``train.checkpoint_every`` and a larger ``train.epochs``
RESULT_NEUTRAL = (
    "train.progress",
    "train.log_every",
    "train.tensorboard",
    "data.workers",
    "data.test_batch_size",
    "balance_exceptions",
)
RESUME_MAY_CHANGE = (*RESULT_NEUTRAL, "train.checkpoint_every")


def resume_may_change(key: str) -> bool:
    """Whether dotted config ``key`` may differ between a run and its ``--resume`` (``train.epochs``
    may grow: :func:`vireid.engine.run.resume_diff`)."""
    return key.startswith(RESUME_MAY_CHANGE)
