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
    """Options of the dataset reader (:func:`vireid.data.datasets.build_dataset`): the ones its class
    declares, ``data.<option>`` in the config."""
    return dict(data.options)


def build_dataset(data: DataConfig):
    """The dataset reader; a synthetic dataset is generated (or reused from cache) first."""
    from vireid.data.datasets import build_dataset as _build

    if data.synth:
        from vireid.data.synth import ensure_dataset

        ensure_dataset(data.root, data.dataset, **data.synth)
    return _build(data.dataset, data.root, **dataset_kwargs(data))


def train_transform_kwargs(data: DataConfig) -> dict[str, Any]:
    """The training transform's arguments; random erasing's area defaults to the dataset's recipe."""
    from vireid.data.datasets import DATASETS

    area = data.erasing_area
    if area is None:
        area = DATASETS.get(data.dataset).recipe.get("erasing_area", (0.2, 0.8))
    return dict(
        height=data.height,
        width=data.width,
        padding=data.pad,
        flip_p=0.5 if data.flip else 0.0,
        grayscale_p=data.grayscale_p,
        erasing_p=data.erasing_p,
        erasing_area=tuple(float(x) for x in area),
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
    rules = _rules(cfg)
    if rules.trial_is_split:
        return None
    full = list(rules.trials)
    return full if final or cfg.eval.trials is None else full[: cfg.eval.trials]


def _rules(cfg: Config, dataset: Any = None):
    """The protocol the evaluation plan follows: the one the dataset class declares (its trials and
    directions; a manifest's one fixed split is :data:`~vireid.evaluation.protocols.PLAIN`'s)."""
    from vireid.data.datasets import DATASETS

    return DATASETS.get(cfg.data.dataset).protocol


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
    return dict(
        trials=eval_trials(cfg, final=False),
        directions=rules.directions,
        flip=cfg.eval.flip,
        combine=cfg.eval.combine,
    )


# --------------------------------------------------------------------------- model
def model_kwargs(model: ModelConfig, num_classes: int) -> dict[str, Any]:
    """Constructor arguments: ``model.args`` plus the dataset's number of identities."""
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
        cls = model_spec(model.name).cls
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
def build_objective(loss: LossConfig, model: nn.Module, *, global_batch: bool = True) -> nn.Module:
    """The training objective for ``model`` (:func:`vireid.objective.build_objective`);
    ``global_batch``: under torchrun, mining and centres over every rank's samples."""
    from vireid.objective import build_objective as _build

    return _build(model, loss.terms, global_batch=global_batch)


def check_with_model(cfg: Config, model: nn.Module) -> None:
    """The config's settings that only a model can check (``loss.ort.weights`` names the model's
    losses, ``optim.head_modules`` its modules), checked as training would check them, without
    training: a command that reads a training config but does not train (``vireid test``) refuses
    what ``vireid train`` would, rather than keep it silently."""
    from vireid.optim.optimizers import split_parameters

    build_objective(cfg.loss, model)
    split_parameters(model, tuple(cfg.optim.head_modules))


def check_config(cfg: Config) -> None:
    """Every setting of ``cfg`` checked as ``vireid train`` would check it, short of reading data
    and weights: :func:`check_with_model` on the configured model built from scratch (no
    pretrained weights, two classes; under a second even for a ViT-B)."""
    check_with_model(cfg, _create(cfg.model, 2))


def optimizer_kwargs(optim: OptimConfig, lr_scale: float = 1.0) -> dict[str, Any]:
    """``lr_scale`` multiplies ``optim.lr`` (linear scaling for ``data.per_rank_batch`` under torchrun)."""
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
    from vireid.optim import build_optimizer as _build

    return _build(model, **optimizer_kwargs(optim, lr_scale))


def schedule_kwargs(cfg: Config) -> dict[str, Any]:
    o = cfg.optim
    return dict(
        name=o.schedule,
        epochs=cfg.train.epochs,
        warmup_epochs=o.warmup_epochs,
        milestones=tuple(int(m) for m in o.milestones),
        gammas=tuple(float(g) for g in o.gammas),
        min_factor=o.min_lr_factor,
    )


def build_schedule(cfg: Config):
    from vireid.optim import build_schedule as _build

    return _build(**schedule_kwargs(cfg))
