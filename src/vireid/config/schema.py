"""The configuration schema: frozen dataclasses, one per section.

Every field has a default, so a YAML file lists only what it changes.  Fields typed
``dict`` are free-form (e.g. ``model.args``, passed as keyword arguments to the model
constructor by :mod:`vireid.config.build`); every other key is checked, and an unknown
one is a :class:`~vireid.errors.ConfigError` naming the file and line.

The library never mutates a config: use :func:`dataclasses.replace` or
:func:`vireid.config.loader.apply_overrides` to derive a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class DataConfig:
    """Dataset, sampler and augmentation (DEEN recipe defaults, SYSU-MM01 layout)."""

    dataset: str = "sysu"  # sysu | regdb | llcm (official layouts)
    root: str = "data/SYSU-MM01"
    trial: int = 1  # RegDB training/test split (1..10)
    mode: str = "all"  # SYSU-MM01 search mode: all | indoor
    shot: str = "single"  # SYSU-MM01 gallery: single | multi
    height: int = 384  # DEEN/train.py --img_h 384 --img_w 144
    width: int = 144
    num_ids: int = 6  # P identities per step (split over the ranks under torchrun)
    num_pos: int = 4  # K images per identity and modality: a step's batch is 2*P*K images
    workers: int = 4
    test_batch_size: int = 64
    pad: int = 10
    flip: bool = True
    grayscale_p: float = 0.5
    erasing_p: float = 0.5
    erasing_area: tuple = (0.2, 0.8)  # DEEN: (0.2, 0.8) on SYSU, (0.02, 0.4) on RegDB/LLCM
    erasing_ratio: float = 0.3
    erasing_value: tuple = (0.485, 0.456, 0.406)  # fill after normalisation: DEEN the ImageNet mean, AGW 0
    channel_aug: Optional[str] = None  # None | exchange | adapt_gray (CAJ channel augmentation)
    cache: bool = False  # keep decoded training images in RAM
    draft: bool = False  # JPEG draft decoding (pre-shrunk by 2^k) of training images; off:
    # full decode + Lanczos resize, as the authors' loaders
    per_rank_batch: bool = False  # torchrun: each rank draws its own P ids (global batch x W, LR x W)
    # non-empty: generate (or reuse) a synthetic dataset in the ``dataset`` layout at ``root``
    # first; keys are vireid.data.synth.ensure_dataset options (num_ids, seed, difficulty, ...)
    synth: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture name and its constructor keyword arguments (num_classes is added)."""

    name: str = "deen"  # deen | deen_vit | agw
    args: dict = field(default_factory=dict)
    # backbone initialisation: a name of vireid.models.pretrained ("imagenet": the family's
    # default, torchvision's ResNet-50 V1 for DEEN), a file path, or "none" (from scratch)
    pretrained: Optional[str] = "imagenet"


@dataclass(frozen=True)
class LossConfig:
    """Loss weights (DEEN's objective, CVPR 2023: L = L_id + L_tri + l1 L_cpm + l2 L_ort)."""

    id_weight: float = 1.0
    label_smoothing: float = 0.0
    triplet: str = "batch_hard"  # batch_hard | weighted (WRT) | none
    triplet_weight: float = 1.0
    triplet_margin: float = 0.3
    cpm_weight: float = 0.8  # lambda_1
    cpm_margin: float = 0.2
    metric_normalize: bool = False  # triplet + CPM on L2-normalised embeddings (off: DEEN)
    ort_weight: float = 0.01  # lambda_2 (DEEN orthogonal loss of the DEE module)
    aux_weights: dict = field(default_factory=dict)  # weight per other model loss name (default: ort_weight)
    svdo_of_weight: float = 0.0  # ABD-Net SVDO orthogonal features (O.F.)
    # abd: as ABD-Net's code trains (linear gap, sum / (B / 32)); paper: the squared gap, batch mean
    svdo_of_form: str = "abd"
    svdo_ow_weight: float = 0.0  # ABD-Net SVDO orthogonal weights (O.W.; ABD-Net's --ow-beta x 10)
    infonce_weight: float = 0.0
    infonce_temperature: float = 0.1
    # {term name: reason}: weighted terms this recipe keeps outside the balance band at
    # initialisation on purpose (tests/config/test_balance.py checks every shipped config)
    balance_exceptions: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and LR schedule (DEEN: SGD + warm-up + steps; ViT: AdamW + cosine)."""

    name: str = "sgd"  # sgd | adamw
    lr: float = 0.1  # LR of the neck/classifier
    backbone_lr_mult: float = 0.1  # LR of everything else = lr * mult (DEEN: 0.01)
    head_modules: tuple = ("bottleneck", "classifier")
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    betas: tuple = (0.9, 0.999)
    schedule: str = "step"  # step | cosine | constant
    warmup_epochs: float = 10.0
    milestones: tuple = (20, 80)
    gammas: tuple = (0.1, 0.01)  # cumulative factors after each milestone
    min_lr_factor: float = 0.0  # cosine floor, as a fraction of the base LR
    grad_clip: Optional[float] = None  # max global L2 norm


@dataclass(frozen=True)
class TrainConfig:
    """Loop, precision, device and bookkeeping."""

    epochs: int = 151  # DEEN/train.py: range(0, 151)
    steps_per_epoch: Optional[int] = None  # None: the authors' max(#visible, #infrared) // (P*K) + 1
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads (0: torch's default); 1 is best on a busy CPU
    amp: str = "none"  # none | auto | bf16 | fp16
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = True  # torchrun with W > 1 processes: BatchNorm statistics over the global batch
    deterministic: bool = False
    checkpoint_every: int = 0  # steps between "last" checkpoints (0: every epoch)
    log_every: int = 20
    progress: bool = True
    tensorboard: bool = True
    # a vireid checkpoint (file or run folder) whose weights start the run (fine-tuning): every
    # tensor must fit, except a classifier sized for another number of identities, which is left
    init_from: Optional[str] = None


@dataclass(frozen=True)
class EvalConfig:
    """Periodic and final evaluation."""

    every: int = 1  # epochs between evaluations (0: only at the end)
    start: int = 2  # first epoch (1-based count) evaluated (DEEN: epoch index > 0)
    metric: str = "rank1"  # which metric selects the best checkpoint
    # the periodic evaluation that selects the best checkpoint: "authors" (DEEN/train.py: trial 0,
    # the protocol's first direction, all embeddings, no flip) or "protocol" (eval.trials trials,
    # every direction averaged, eval.flip / eval.combine); the final evaluation is always the full protocol
    select: str = "authors"
    # the direction select=authors evaluates (None: the protocol's first, DEEN/train.py's test_mode;
    # AGW on LLCM: visible_to_infrared, AGW/train.py's test_mode = [2, 1])
    select_direction: Optional[str] = None
    # {published column: our direction} that metrics.json names as the paper's (empty: the
    # protocol's, as DEEN's test.py computes them; a *_paper direction named here is evaluated)
    paper_columns: dict = field(default_factory=dict)
    flip: bool = True
    combine: str = "all"  # all | weighted | pool | bn  (see ReIDModel.embed)
    trials: Optional[int] = None  # with select=protocol: limit trials during training (None: all)


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


#: Keys ``--resume`` may change: they do not affect the trained weights (what is evaluated and
#: how often, logging, loader workers) -- plus ``train.epochs``, to extend a finished run.
RESUME_MAY_CHANGE = (
    "eval.",
    "loss.balance_exceptions",
    "train.progress",
    "train.log_every",
    "train.tensorboard",
    "train.epochs",
    "train.checkpoint_every",
    "data.workers",
    "data.test_batch_size",
)


# the keys among those that change nothing a finished run computed (display, logging, loading speed)
RESULT_NEUTRAL = (
    "train.progress",
    "train.log_every",
    "train.tensorboard",
    "data.workers",
    "data.test_batch_size",
    "loss.balance_exceptions",
)


def resume_may_change(key: str) -> bool:
    """Whether dotted config ``key`` may differ between a run and its ``--resume``."""
    return key.startswith(RESUME_MAY_CHANGE)
