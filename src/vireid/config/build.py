"""The one place that turns a :class:`Config` into constructor arguments.

Every other module takes plain keyword arguments; the ``*_kwargs`` functions here map
config fields onto them, and the ``build_*`` helpers call the constructors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from vireid.config.schema import Config, DataConfig, LossConfig, ModelConfig, OptimConfig
from vireid.errors import CheckpointError, ConfigError


# --------------------------------------------------------------------------- data
def dataset_kwargs(data: DataConfig) -> dict[str, Any]:
    """Options of the dataset reader (:func:`vireid.data.datasets.build_dataset`)."""
    if data.dataset == "sysu":
        return {"mode": data.mode, "shot": data.shot}
    if data.dataset == "regdb":
        return {"trial": data.trial}
    return {}


def build_dataset(data: DataConfig):
    """The dataset reader; a synthetic dataset is generated (or reused from cache) first."""
    from vireid.data.datasets import build_dataset as _build

    if data.synth:
        from vireid.data.synth import ensure_dataset

        try:
            ensure_dataset(data.root, data.dataset, **data.synth)
        except TypeError as exc:
            raise ConfigError(f"data.synth: {exc}") from None
    return _build(data.dataset, data.root, **dataset_kwargs(data))


def train_transform_kwargs(data: DataConfig) -> dict[str, Any]:
    if len(data.erasing_area) != 2:
        raise ConfigError(f"data.erasing_area: expected [min, max], got {list(data.erasing_area)}")
    if len(data.erasing_value) != 3:
        raise ConfigError(f"data.erasing_value: expected 3 per-channel values, got {list(data.erasing_value)}")
    return dict(
        height=data.height,
        width=data.width,
        padding=data.pad,
        flip_p=0.5 if data.flip else 0.0,
        grayscale_p=data.grayscale_p,
        erasing_p=data.erasing_p,
        erasing_area=tuple(float(x) for x in data.erasing_area),
        erasing_ratio=data.erasing_ratio,
        erasing_value=tuple(float(x) for x in data.erasing_value),
        channel_aug=data.channel_aug,
    )


def train_loader_kwargs(cfg: Config, rank: int = 0, world_size: int = 1) -> dict[str, Any]:
    """Arguments of :func:`vireid.data.loaders.build_train_loader` (without records/transform)."""
    d = cfg.data
    return dict(
        height=d.height,
        width=d.width,
        num_ids=d.num_ids,
        num_instances=d.num_pos,
        seed=cfg.train.seed,
        rank=rank,
        world_size=world_size,
        per_rank=d.per_rank_batch,
        num_workers=d.workers,
        batches_per_epoch=cfg.train.steps_per_epoch,
        cache=d.cache,
        draft=d.draft,
    )


def check_world_size(cfg: Config, world_size: int) -> None:
    """The global batch's identities must split evenly over ``world_size`` processes."""
    if not cfg.data.per_rank_batch and cfg.data.num_ids % world_size:
        raise ConfigError(
            f"data.num_ids={cfg.data.num_ids} identities per batch cannot be split evenly over "
            f"{world_size} processes; use a multiple of {world_size}, or data.per_rank_batch=true "
            "(each process draws its own identities)"
        )


def test_loader_kwargs(cfg: Config) -> dict[str, Any]:
    d = cfg.data
    return dict(height=d.height, width=d.width, batch_size=d.test_batch_size, num_workers=d.workers)


def eval_kwargs(cfg: Config) -> dict[str, Any]:
    return dict(flip=cfg.eval.flip, combine=cfg.eval.combine, **test_loader_kwargs(cfg))


def eval_trials(cfg: Config, final: bool) -> Any:
    """Trials to evaluate: the protocol's full set (``final``) or ``eval.trials`` of them.

    ``None`` where a trial is a train/test split (RegDB): the trained split's own test set.
    """
    from vireid.evaluation.protocols import PLAIN, REGISTRY

    rules = REGISTRY.get(cfg.data.dataset, PLAIN)  # a manifest has one fixed split
    if rules.trial_is_split:
        return None
    full = list(rules.trials)
    return full if final or cfg.eval.trials is None else full[: cfg.eval.trials]


def _rules(cfg: Config, dataset: Any = None):
    from vireid.evaluation.protocols import PLAIN, REGISTRY

    return REGISTRY.get(getattr(dataset, "protocol", None) or cfg.data.dataset, PLAIN)


def check_eval(cfg: Config) -> None:
    """``eval.select_direction`` and ``eval.paper_columns`` name directions of the dataset's
    protocol (checked when a config is loaded)."""
    rules = _rules(cfg)
    where = f"for data.dataset {cfg.data.dataset!r} (protocol {rules.name})"
    d = cfg.eval.select_direction
    if d is not None and d not in rules.known_directions:
        known = ", ".join(rules.known_directions)
        raise ConfigError(f"eval.select_direction: {d!r} is not a direction {where}; expected one of {known}")
    from vireid.evaluation.protocols import DIRECTIONS

    for col, d in cfg.eval.paper_columns.items():
        if col not in DIRECTIONS:
            raise ConfigError(
                f"eval.paper_columns: {col!r} is not a published column; expected {' or '.join(DIRECTIONS)}"
            )
        if d not in rules.known_directions:
            raise ConfigError(
                f"eval.paper_columns.{col}: {d!r} is not a direction {where}; "
                f"expected one of {', '.join(rules.known_directions)}"
            )


def paper_columns(cfg: Config, dataset: Any = None) -> dict[str, str]:
    """Published column -> the direction whose numbers it is: ``eval.paper_columns``, else the
    protocol's (DEEN's ``test.py``; :attr:`vireid.evaluation.protocols.EvalProtocol.paper_columns`)."""
    return dict(cfg.eval.paper_columns) or dict(_rules(cfg, dataset).paper_columns)


def final_eval(cfg: Config, dataset: Any = None) -> dict[str, Any]:
    """The full protocol: every trial, the protocol's directions and the extra ones the paper
    columns name (LLCM and RegDB: the authors' published computations, :func:`paper_columns`),
    with ``eval.flip`` and ``eval.combine``."""
    rules = _rules(cfg, dataset)
    named = set(paper_columns(cfg, dataset).values())
    return dict(
        trials=eval_trials(cfg, final=True),
        directions=rules.directions + tuple(d for d in rules.extra_directions if d in named),
        flip=cfg.eval.flip,
        combine=cfg.eval.combine,
    )


def selection_eval(cfg: Config, dataset: Any = None) -> dict[str, Any]:
    """The periodic evaluation whose ``eval.metric`` selects the best checkpoint.

    ``eval.select: authors`` is the authors' in-training test (``DEEN/train.py``, ``AGW/train.py``):
    the first trial (gallery seed 0; RegDB: the trained split), one direction --
    ``eval.select_direction``, else the protocol's first (SYSU-MM01 and LLCM infrared -> visible,
    RegDB visible -> infrared: DEEN's ``test_mode``) --, no flip, and the configured descriptor
    ``eval.combine`` (DEEN: ``all``, the sum of all six inner products; AGW/test.py: ``bn``).
    ``protocol``: ``eval.trials`` trials, every direction averaged, ``eval.flip`` and ``eval.combine``.
    """
    rules = _rules(cfg, dataset)
    if cfg.eval.select == "authors":
        return dict(
            trials=None if rules.trial_is_split else list(rules.trials[:1]),
            directions=(cfg.eval.select_direction or rules.directions[0],),
            flip=False,
            combine=cfg.eval.combine,
        )
    if cfg.eval.select == "protocol":
        return dict(
            trials=eval_trials(cfg, final=False),
            directions=rules.directions,
            flip=cfg.eval.flip,
            combine=cfg.eval.combine,
        )
    raise ConfigError(f"eval.select: unknown {cfg.eval.select!r}; expected authors or protocol")


# --------------------------------------------------------------------------- model
def model_kwargs(model: ModelConfig, num_classes: int) -> dict[str, Any]:
    """Constructor arguments: ``model.args`` plus the dataset's number of identities."""
    if "num_classes" in model.args:
        raise ConfigError("model.args.num_classes is set from the dataset; remove it")
    return {
        "num_classes": int(num_classes),
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in model.args.items()},
    }


def pretrained_source(model: ModelConfig) -> str | None:
    """``model.pretrained`` as a name or path, ``None`` when the backbone starts from scratch."""
    value = model.pretrained
    if value is None or str(value).strip().lower() in ("", "none", "null"):
        return None
    return str(value)


def _create(model: ModelConfig, num_classes: int) -> nn.Module:
    from vireid.models.registry import create_model

    try:
        return create_model(model.name, model_kwargs(model, num_classes), source="model.args")
    except ConfigError as exc:
        if "unknown model" in str(exc):
            raise ConfigError(f"model.name: {exc}") from None
        raise


def pretrained_family(model: ModelConfig) -> str | None:
    """The family of named weights (:mod:`vireid.models.pretrained`) the configured model takes,
    asked of its class (``ReIDModel.family_for``) without building it."""
    from vireid.models.registry import model_spec

    try:
        cls = model_spec(model.name).load_class()
    except ConfigError as exc:
        raise ConfigError(f"model.name: {exc}") from None
    family_for = getattr(cls, "family_for", None)
    return family_for(dict(model.args)) if family_for is not None else None


def resolve_pretrained(model: ModelConfig) -> Path | None:
    """The local file ``model.pretrained`` names (``None``: from scratch).

    A name is downloaded once into torch.hub's cache; without network (or on a hash mismatch)
    a one-line :class:`~vireid.errors.CheckpointError` names the URL, the cache path to place
    the file at and the ``model.pretrained=PATH`` override.
    """
    source = pretrained_source(model)
    if source is None:
        return None
    path = Path(source).expanduser()
    if path.is_file():
        return path
    from vireid.models.pretrained import resolve

    family = pretrained_family(model)
    if family is None and not any(sep in source for sep in ("/", "\\")):
        raise CheckpointError(
            f"model.pretrained: {source!r} is not a file, and {model.name} with these model.args "
            "has no named pretrained weights; pass a file path or none"
        )
    try:
        return resolve(source, family)
    except CheckpointError as exc:
        raise CheckpointError(f"model.pretrained: {exc}") from None


def build_model(model: ModelConfig, num_classes: int, *, pretrained: str | Path | None = None) -> nn.Module:
    """The registered model ``model.name`` with its backbone initialised from ``model.pretrained``
    (``pretrained``: the file :func:`resolve_pretrained` returned, so it is not resolved twice)."""
    net = _create(model, num_classes)
    source = pretrained if pretrained is not None else pretrained_source(model)
    if source is not None:
        net.load_pretrained(source)
    return net


# --------------------------------------------------------------------------- losses / optimiser
def objective_kwargs(loss: LossConfig) -> dict[str, Any]:
    return dict(
        id_weight=loss.id_weight,
        label_smoothing=loss.label_smoothing,
        triplet=loss.triplet,
        triplet_weight=loss.triplet_weight,
        triplet_margin=loss.triplet_margin,
        cpm_weight=loss.cpm_weight,
        cpm_margin=loss.cpm_margin,
        metric_normalize=loss.metric_normalize,
        ort_weight=loss.ort_weight,
        aux_weights=dict(loss.aux_weights),
        svdo_of_weight=loss.svdo_of_weight,
        svdo_of_form=loss.svdo_of_form,
        svdo_ow_weight=loss.svdo_ow_weight,
        infonce_weight=loss.infonce_weight,
        infonce_temperature=loss.infonce_temperature,
    )


def build_objective(loss: LossConfig, model: nn.Module, *, global_batch: bool = True) -> nn.Module:
    """The training objective for ``model`` (:func:`vireid.objective.build_objective`);
    ``global_batch``: under torchrun, mining and centres over every rank's samples."""
    from vireid.objective import build_objective as _build

    return _build(model, **objective_kwargs(loss), global_batch=global_batch)


def optimizer_kwargs(optim: OptimConfig, lr_scale: float = 1.0) -> dict[str, Any]:
    """``lr_scale`` multiplies ``optim.lr`` (linear scaling for ``data.per_rank_batch`` under torchrun)."""
    if optim.name not in ("sgd", "adamw"):
        raise ConfigError(f"optim.name: unknown optimizer {optim.name!r}; expected sgd or adamw")
    return dict(
        name=optim.name,
        lr=optim.lr * lr_scale,
        backbone_lr_mult=optim.backbone_lr_mult,
        head_modules=tuple(optim.head_modules),
        momentum=optim.momentum,
        nesterov=optim.nesterov,
        weight_decay=optim.weight_decay,
        betas=tuple(optim.betas),
    )


def build_optimizer(optim: OptimConfig, model: nn.Module, *, lr_scale: float = 1.0):
    from vireid.engine.optim import build_optimizer as _build

    return _build(model, **optimizer_kwargs(optim, lr_scale))


def schedule_kwargs(cfg: Config) -> dict[str, Any]:
    o = cfg.optim
    if o.schedule not in ("step", "cosine", "constant"):
        raise ConfigError(f"optim.schedule: unknown {o.schedule!r}; expected step, cosine or constant")
    if len(o.milestones) != len(o.gammas):
        raise ConfigError("optim.milestones and optim.gammas must have the same length")
    return dict(
        name=o.schedule,
        epochs=cfg.train.epochs,
        warmup_epochs=o.warmup_epochs,
        milestones=tuple(int(m) for m in o.milestones),
        gammas=tuple(float(g) for g in o.gammas),
        min_factor=o.min_lr_factor,
    )


def build_schedule(cfg: Config):
    from vireid.engine.schedules import build_schedule as _build

    return _build(**schedule_kwargs(cfg))
