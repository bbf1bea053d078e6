"""The one answer to "which model is this": config name <-> class <-> checkpoint architecture.

Every model vireid can build is listed here once.  Config files name a model by its
registry name (``model.name: deen``); checkpoints record the architecture name in their
metadata (``"architecture": "DEEN"``, kept from vireid 0.1 files); both resolve through
:func:`model_spec`.  The constructor's keyword arguments are the config contract
(``model.args``), checked against its signature by :func:`create_model`.

Classes are imported on first use (``"module:Class"`` targets), so importing the registry
stays cheap and a model's optional dependencies are only needed when it is built.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Mapping

from torch import nn

from vireid.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: ``name`` (configs), ``architecture`` (checkpoint metadata), ``target``."""

    name: str
    architecture: str
    target: str  # "package.module:ClassName"
    summary: str = ""

    def load_class(self) -> type[nn.Module]:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


_MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, architecture: str, target: str, summary: str = "") -> ModelSpec:
    """Add a model; names and architectures must be unique."""
    if name in _MODELS or any(s.architecture == architecture for s in _MODELS.values()):
        raise ValueError(f"model {name!r} / architecture {architecture!r} is already registered")
    spec = ModelSpec(name, architecture, target, summary)
    _MODELS[name] = spec
    return spec


register_model("deen", "DEEN", "vireid.models.deen:DEEN", "DEEN (ResNet-50, MFA, DEE), CVPR 2023")
register_model(
    "deen_vit",
    "DEENViT",
    "vireid.models.deen_vit:DEENViT",
    "DEEN on a dual-patch-embedding ViT (token MFA, expansion modules)",
)
register_model(
    "agw",
    "AGW",
    "vireid.models.agw:AGW",
    "AGW (non-local, GeM, WRT), Ye et al. TPAMI 2021; non_local=False, gem=False is 'base'",
)


def model_names() -> list[str]:
    return list(_MODELS)


def model_spec(name: str) -> ModelSpec:
    """The spec of a registry name (``"deen"``) or checkpoint architecture (``"DEEN"``)."""
    if name in _MODELS:
        return _MODELS[name]
    for spec in _MODELS.values():
        if spec.architecture == name:
            return spec
    raise ConfigError(f"unknown model {name!r}; expected one of {', '.join(_MODELS)}")


def spec_of(model: nn.Module) -> ModelSpec:
    """The spec of a model instance (its exact class must be registered)."""
    for spec in _MODELS.values():
        module, _, cls = spec.target.partition(":")
        if type(model).__name__ == cls and type(model).__module__ == module:
            return spec
    raise ConfigError(f"{type(model).__name__} is not a registered vireid model")


def constructor_arguments(name: str) -> dict[str, Any]:
    """``{argument: default}`` of the model's constructor (``inspect.Parameter.empty`` if required)."""
    sig = inspect.signature(model_spec(name).load_class().__init__)
    return {
        p.name: p.default
        for p in list(sig.parameters.values())[1:]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def create_model(name: str, kwargs: Mapping[str, Any], source: str = "model.args") -> nn.Module:
    """Build model ``name`` from constructor ``kwargs``; a :class:`ConfigError` names a bad argument."""
    spec = model_spec(name)
    allowed = constructor_arguments(spec.name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{source}: unknown argument(s) {', '.join(unknown)} for {spec.name}; "
            f"expected some of: {', '.join(allowed)}"
        )
    missing = sorted(k for k, v in allowed.items() if v is inspect.Parameter.empty and k not in kwargs)
    if missing:
        raise ConfigError(f"{source}: {spec.name} needs {', '.join(missing)}")
    try:
        return spec.load_class()(**dict(kwargs))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: invalid arguments for {spec.name}: {exc}") from None
