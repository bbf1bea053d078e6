"""The one answer to "which model is this": config name <-> class <-> checkpoint architecture.

Each model registers where it is defined::

    @register_model("deen", architecture="DEEN", summary="DEEN (ResNet-50, MFA, DEE), CVPR 2023")
    class DEEN(ReIDModel):
        def __init__(self, num_classes: Annotated[int, Range(1)], variant: Literal["default", "regdb"] = "default", ...)

Configs name a model by its registry name (``model.name: deen``); checkpoints record its
``architecture`` (``"DEEN"``, kept from vireid 0.1 files); both resolve through :func:`model_spec`.
The constructor's keywords, with the types and rules declared beside them
(:mod:`vireid.core.params`), are the config contract (``model.args``): :func:`create_model` checks
every argument against them before building.  ``vireid.models`` imports every built-in model, so
they are registered as soon as this registry is used; plugins register theirs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from torch import nn

from vireid.core.checks import check_kwargs
from vireid.core.params import Params, declared_params
from vireid.core.registry import Entry, registry
from vireid.errors import ConfigError, PluginError


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: ``name`` (configs), ``architecture`` (checkpoint metadata), its class,
    and the ``plugin`` that registered it (``None``: vireid's own)."""

    name: str
    architecture: str
    cls: type[nn.Module]
    summary: str = ""
    plugin: str | None = None

    @property
    def params(self) -> Params:
        """The constructor's declared keywords (``model.args`` and ``num_classes``)."""
        return declared_params(self.cls)


def _check(entry: Entry) -> None:
    cls = entry.obj
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise PluginError(f"model {entry.name!r}: expected an nn.Module class, got {cls!r}")
    try:
        params = declared_params(cls)
    except TypeError as exc:
        raise PluginError(f"model {entry.name!r}: {exc}") from None
    if "num_classes" not in params.params:
        raise PluginError(f"model {entry.name!r}: its constructor must take num_classes (the training identities)")
    arch = entry.info.get("architecture")
    other = MODELS.where(architecture=arch) if isinstance(arch, str) else None
    if not isinstance(arch, str) or (other is not None and other.name != entry.name):
        raise PluginError(f"model {entry.name!r}: architecture {arch!r} is missing or already registered")


MODELS = registry("model", check=_check)


def register_model(name: str, *, architecture: str | None = None, summary: str = ""):
    """Class decorator: register a model under ``name`` (configs) and ``architecture`` (checkpoints;
    default: the class name)."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        MODELS.add(name, cls, architecture=architecture or cls.__name__, summary=summary)
        return cls

    return deco


def _spec(entry: Entry) -> ModelSpec:
    return ModelSpec(entry.name, entry.info["architecture"], entry.obj, entry.info.get("summary", ""), entry.plugin)


def model_spec(name: str) -> ModelSpec:
    """The spec of a registry name (``"deen"``) or checkpoint architecture (``"DEEN"``)."""
    found = MODELS.find(name) or (MODELS.where(architecture=name) if isinstance(name, str) else None)
    # find() loaded the installed plugins on a miss, so where() sees their architectures too
    if found is None:
        raise ConfigError(f"unknown model {name!r}; expected one of {', '.join(MODELS.names())}")
    return _spec(found)


def spec_of(model: nn.Module) -> ModelSpec:
    """The spec of a model instance (its exact class must be registered)."""
    found = MODELS.entry_of(type(model))
    if found is None:
        raise ConfigError(f"{type(model).__name__} is not a registered vireid model")
    return _spec(found)


def check_model_args(name: str, kwargs: Mapping[str, Any], source: str = "model.args") -> dict[str, Any]:
    """``kwargs`` checked against the declared constructor keywords of model ``name`` (one line naming
    ``source.key``, the value and what is allowed)."""
    spec = model_spec(name)
    return check_kwargs(spec.params, kwargs, source)


def create_model(name: str, kwargs: Mapping[str, Any], source: str = "model.args") -> nn.Module:
    """Build model ``name`` from constructor ``kwargs``, each checked against its declaration first."""
    spec = model_spec(name)
    checked = check_kwargs(spec.params, kwargs, source)
    try:
        return spec.cls(**checked)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
