"""The one validator for configs: every key, value and cross-field rule, checked when a config is loaded.

The rules come from where each key is declared, never from a table kept here: the schema's fields
(:mod:`vireid.config.schema`), the dataset class's options, the model's and the expansion module's
constructor keywords, the objective terms' keywords and the synthetic generator's options (all
:mod:`vireid.core.params` declarations).  Each error is one line naming the file and line (or the
command line), the key, the value and what is allowed.  Cross-field rules: ``optim.milestones``
and ``optim.gammas`` of one length, ``eval.select_direction`` and ``eval.paper_columns`` naming
directions of the dataset's protocol (:func:`vireid.config.build.check_eval`), and a memory
estimate of a training step and a test batch
(:func:`memory_estimate`), so ``data.num_pos=100000000`` stops here instead of in a MemoryError.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Callable, Mapping

from vireid.config.schema import (
    Config,
    DataConfig,
    EvalConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)
from vireid.core import plugins
from vireid.core.checks import check_kwargs, check_value
from vireid.core.params import NON_NEGATIVE, Params, dataclass_params
from vireid.errors import ConfigError, PluginError

SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}
TOP_KEYS = (*SECTIONS, "imports", "balance_exceptions")
#: a training step or a test batch whose estimate exceeds this is refused: more than the largest
#: single accelerator (192 GB) or an ordinary host holds
MEMORY_CEILING = 256 * 2**30
TEST_BYTES_PER_INPUT_BYTE = 40  # a forward without autograd keeps a few feature maps at a time


class Locator:
    """Where a dotted key was set: ``file:line``, ``<command line>``, or the config's source."""

    def __init__(self, locations: Mapping[str, str], source: str) -> None:
        self.locations, self.source = dict(locations), source

    def __call__(self, key: str) -> str:
        key = key.split("[", 1)[0]
        parts = key.split(".")
        for n in range(len(parts), 0, -1):
            found = self.locations.get(".".join(parts[:n]))
            if found is not None:
                return found
        return self.source

    def any(self, *keys: str) -> str:
        """Where one of ``keys`` was set (a cross-field rule): the command line if it set one, else the
        first that a file set, else the config's source."""
        found = [self(k) for k in keys]
        return next((w for w in found if w == "<command line>"), None) or next(
            (w for w in found if w != self.source), self.source
        )

    def error(self, exc: ConfigError) -> ConfigError:
        """``exc`` (``"key: problem"``) with the key's location in front."""
        text = str(exc)
        return ConfigError(f"{self(text.split(':', 1)[0])}: {text}")


def _mapping(value: Any, key: str, loc: Locator) -> dict:
    if value is None:  # "model:" alone
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{loc(key)}: {key}: expected a mapping (section '{key}'), got {value!r}")
    return dict(value)


def _unknown(key: str, allowed: list[str], loc: Locator) -> ConfigError:
    return ConfigError(f"{loc(key)}: unknown key '{key}'; expected one of: {', '.join(allowed)}")


def _fields(cls: type, values: Mapping[str, Any], prefix: str, loc: Locator, skip: tuple[str, ...] = ()) -> dict:
    params = dataclass_params(cls)
    allowed = [n for n in params.names() if n not in skip]
    out = {}
    for key, value in values.items():
        if key not in allowed:
            raise _unknown(f"{prefix}.{key}", allowed, loc)
        try:
            out[key] = check_value(value, params.params[key].annotation, f"{prefix}.{key}", values)
        except ConfigError as exc:
            raise loc.error(exc) from None
    return out


def _checked(fn: Callable[[], Any], loc: Locator) -> Any:
    try:
        return fn()
    except PluginError:
        raise
    except ConfigError as exc:
        raise loc.error(exc) from None


# --------------------------------------------------------------------------- sections
def _data(values: dict, loc: Locator) -> DataConfig:
    from vireid.config.legacy import DATA_KEYS
    from vireid.data.datasets import DATASETS

    generic = dataclass_params(DataConfig)
    name = _fields(DataConfig, {"dataset": values.get("dataset", generic.defaults()["dataset"])}, "data", loc)[
        "dataset"
    ]
    cls = DATASETS.get(name)
    options: Params = cls.options()
    clash = sorted(set(options.names()) & set(generic.names()))
    if clash:
        raise PluginError(f"dataset {name!r}: option(s) {', '.join(clash)} would shadow the data section's own keys")
    own, given = {}, {}
    for key, value in values.items():
        if key in options.params:
            given[key] = value
        elif key in generic.params and key != "options":
            own[key] = value
        elif key in DATA_KEYS and value == DATA_KEYS[key]:
            continue  # written by vireid 0.1 for every dataset; meaningless for this one
        else:
            allowed = [n for n in generic.names() if n != "options"] + options.names()
            raise _unknown(f"data.{key}", allowed, loc)
    data = _fields(DataConfig, own, "data", loc)
    data["options"] = _checked(lambda: check_kwargs(options, given, "data", fill=True, noun="option"), loc)
    if data.get("erasing_area") is None:
        data["erasing_area"] = tuple(float(x) for x in cls.recipe.get("erasing_area", (0.2, 0.8)))
    if data.get("synth"):
        data["synth"] = _checked(
            lambda: check_value(data["synth"], generic.params["synth"].annotation, "data.synth"), loc
        )
    return DataConfig(**data)


def _model(values: dict, loc: Locator) -> ModelConfig:
    from vireid.models.registry import model_spec

    model = _fields(ModelConfig, values, "model", loc)
    name = model.get("name", ModelConfig.name)
    args = dict(model.get("args") or {})
    if "num_classes" in args:
        raise ConfigError(f"{loc('model.args.num_classes')}: model.args.num_classes is set from the dataset; remove it")
    params = model_spec(name).params
    params = Params(params.owner, {k: p for k, p in params.params.items() if k != "num_classes"}, params.open)
    model["args"] = _checked(lambda: check_kwargs(params, args, "model.args"), loc)
    return ModelConfig(**model)


def resolve_terms(given: Mapping[str, Any], loc: Locator | None = None) -> dict[str, dict[str, Any]]:
    """``{term: {"weight": w, **keywords}}`` for every registered term (defaults filled, each value
    checked against the term's declarations); a plugin's term appears only when it is weighted or
    named, so a config written with a plugin loaded reads without it when the plugin's terms were off."""
    from vireid.objective.terms import TERMS

    loc = loc or Locator({}, "<loss>")
    for name in given:
        if name not in TERMS:
            raise ConfigError(
                f"{loc(f'loss.{name}')}: loss.{name}: unknown objective term; "
                f"expected one of {', '.join(TERMS.names())}"
            )
    out: dict[str, dict[str, Any]] = {}
    for entry in TERMS.entries():
        name, cls = entry.name, entry.obj
        section = _mapping(given.get(name), f"loss.{name}", loc)
        weight = _checked(
            lambda s=section, c=cls, n=name: check_value(
                s.get("weight", c.default_weight), Annotated[float, NON_NEGATIVE], f"loss.{n}.weight"
            ),
            loc,
        )
        args = {k: v for k, v in section.items() if k != "weight"}
        args = _checked(lambda a=args, c=cls, n=name: check_kwargs(c.config_params(), a, f"loss.{n}", fill=True), loc)
        if entry.plugin is None or weight or name in given:
            out[name] = {"weight": weight, **args}
    return out


# --------------------------------------------------------------------------- cross-field rules
def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def memory_estimate(cfg: Config) -> tuple[float, float]:
    """``(bytes of one training step, bytes of one test batch)``, estimated: the float32 images times
    the activations the model keeps per input byte (``train_bytes_per_input_byte``, measured by
    ``benchmarks/bench_activation_memory.py``), and a test batch with its flipped copy."""
    from vireid.models.registry import model_spec

    d = cfg.data
    per_image = 3 * d.height * d.width * 4
    factor = float(getattr(model_spec(cfg.model.name).cls, "train_bytes_per_input_byte", 340.0))
    return 2 * d.num_ids * d.num_pos * per_image * factor, 2 * d.test_batch_size * per_image * TEST_BYTES_PER_INPUT_BYTE


def _cross(cfg: Config, loc: Locator) -> None:
    from vireid.config.build import check_eval

    _checked(lambda: check_eval(cfg), loc)
    o = cfg.optim
    if len(o.milestones) != len(o.gammas):
        where = loc.any("optim.milestones", "optim.gammas")
        raise ConfigError(
            f"{where}: optim.milestones {list(o.milestones)} and optim.gammas {list(o.gammas)} "
            "must have the same length (one LR factor per milestone)"
        )
    d = cfg.data
    from vireid.models.registry import model_spec

    low_h, low_w = getattr(model_spec(cfg.model.name).cls, "min_input_hw", (1, 1))
    if d.height < low_h or d.width < low_w:
        raise ConfigError(
            f"{loc.any('data.height', 'data.width')}: data.height x data.width = {d.height}x{d.width}: "
            f"{cfg.model.name} takes images of at least {low_h}x{low_w} (its strides)"
        )
    train, test = memory_estimate(cfg)
    if train > MEMORY_CEILING:
        where = loc.any("data.num_ids", "data.num_pos", "data.height", "data.width")
        raise ConfigError(
            f"{where}: data.num_ids x data.num_pos x data.height x data.width = {d.num_ids} x {d.num_pos} x "
            f"{d.height} x {d.width}: a training step of 2 x {d.num_ids} x {d.num_pos} images of {d.height}x{d.width} "
            f"needs about {_bytes(train)} ({cfg.model.name}'s activations, estimated); vireid allows up to "
            f"{_bytes(MEMORY_CEILING)}: lower one of them"
        )
    if test > MEMORY_CEILING:
        raise ConfigError(
            f"{loc('data.test_batch_size')}: data.test_batch_size={d.test_batch_size}: a test batch of "
            f"{d.height}x{d.width} images needs about {_bytes(test)} (estimated); vireid allows up to "
            f"{_bytes(MEMORY_CEILING)}: lower data.test_batch_size"
        )


# --------------------------------------------------------------------------- the config
def validate(tree: Mapping[str, Any], locations: Mapping[str, str], source: str) -> Config:
    """A :class:`Config` from a merged config tree, every key checked; ``locations`` maps dotted keys
    to where they were set (errors name them), ``source`` is the config's own name.  The plugin
    modules ``imports`` names are imported first."""
    loc = Locator(locations, source)
    for key in tree:
        if key not in TOP_KEYS:
            raise _unknown(str(key), list(TOP_KEYS), loc)
    annotation = dataclass_params(Config).params["imports"].annotation
    imports = _checked(lambda: check_value(tree.get("imports") or (), annotation, "imports"), loc)
    if isinstance(imports, str) or not all(isinstance(m, str) for m in imports):
        raise ConfigError(f"{loc('imports')}: imports: expected a list of module names, got {imports!r}")
    plugins.import_plugins(imports, source=f"{loc('imports')}: imports")
    sections = {k: _mapping(tree.get(k), k, loc) for k in SECTIONS}
    cfg = Config(
        data=_data(sections["data"], loc),
        model=_model(sections["model"], loc),
        loss=LossConfig(resolve_terms(sections["loss"], loc)),
        optim=OptimConfig(**_fields(OptimConfig, sections["optim"], "optim", loc)),
        train=TrainConfig(**_fields(TrainConfig, sections["train"], "train", loc)),
        eval=EvalConfig(**_fields(EvalConfig, sections["eval"], "eval", loc)),
        imports=tuple(imports),
        balance_exceptions=_checked(lambda: _balance_exceptions(tree.get("balance_exceptions")), loc),
    )
    _cross(cfg, loc)
    used = [p for p in _plugins_used(cfg) if p not in cfg.imports]
    return dataclasses.replace(cfg, imports=(*cfg.imports, *used)) if used else cfg


def _balance_exceptions(value: Any) -> dict[str, str]:
    """``{loss term: reason}``: registered terms, each with a non-empty reason."""
    from vireid.objective.terms import TERMS

    annotation = dataclass_params(Config).params["balance_exceptions"].annotation
    found = check_value(value or {}, annotation, "balance_exceptions")
    for term, reason in found.items():
        if term not in TERMS:
            raise ConfigError(
                f"balance_exceptions.{term}: unknown objective term; expected one of {', '.join(TERMS.names())}"
            )
        if not reason.strip():
            raise ConfigError(f"balance_exceptions.{term}: give the reason the term is kept outside the band")
    return dict(found)


def _plugins_used(cfg: Config) -> list[str]:
    """The plugins that registered what ``cfg`` names -- its dataset, model, weighted loss terms and
    the registered names among the model's arguments (an expansion module) -- so that a saved run
    config lists them under ``imports`` however they were loaded (an entry point included)."""
    import typing

    from vireid.core.params import Registered
    from vireid.data.datasets import DATASETS
    from vireid.models.registry import model_spec
    from vireid.objective.terms import TERMS

    spec = model_spec(cfg.model.name)
    found = [DATASETS.entry(cfg.data.dataset).plugin, spec.plugin]
    found += [TERMS.entry(n).plugin for n, t in cfg.loss.terms.items() if t.get("weight")]
    for p in spec.params:
        for rule in typing.get_args(p.annotation)[1:] if typing.get_origin(p.annotation) is typing.Annotated else ():
            value = cfg.model.args.get(p.name)
            if isinstance(rule, Registered) and isinstance(value, str) and value in rule.registry:
                found.append(rule.registry.entry(value).plugin)
    return list(dict.fromkeys(p for p in found if p is not None))


def to_dict(cfg: Any) -> dict:
    """Plain nested dict of a config (tuples as lists, the dataset's options in ``data``), for YAML/JSON."""

    def conv(v: Any) -> Any:
        if isinstance(v, DataConfig):
            d = {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v) if f.name != "options"}
            return {**d, **conv(v.options)}
        if isinstance(v, LossConfig):
            return conv(v.terms)
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, Mapping):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)
