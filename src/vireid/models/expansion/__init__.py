"""Token expansion modules for DEEN-ViT: DEE (2D / 1D), T-MHEE, CM-ATM, SS-DEC and "none".

:func:`build_expansion` maps a name to a class through an explicit table; the
modules are imported on first use so that a missing optional module only fails
when it is asked for.
"""

from __future__ import annotations

import importlib

from vireid.errors import ConfigError
from vireid.models.expansion.base import IdentityExpansion, TokenExpansion

# name -> (module, class).  Explicit on purpose: no registry keyed by function names.
EXPANSIONS: dict[str, tuple[str, str]] = {
    "none": ("vireid.models.expansion.base", "IdentityExpansion"),
    "dee": ("vireid.models.expansion.dee", "DEE2d"),
    "dee1d": ("vireid.models.expansion.dee", "DEE1d"),
    "tmhee": ("vireid.models.expansion.tmhee", "TMHEE"),
    "cmatm": ("vireid.models.expansion.cmatm", "CMATM"),
    "ssdec": ("vireid.models.expansion.ssdec", "SSDEC"),
}


def expansion_class(name: str) -> type[TokenExpansion]:
    """The class implementing expansion ``name`` (a :class:`ConfigError` for unknown names)."""
    if not isinstance(name, str) or name.lower() not in EXPANSIONS:
        raise ConfigError(f"unknown expansion {name!r}; expected one of {', '.join(sorted(EXPANSIONS))}")
    module_name, class_name = EXPANSIONS[name.lower()]
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def build_expansion(name: str, dim: int, **kwargs) -> TokenExpansion:
    """Build the expansion module ``name`` for ``dim``-channel tokens (kwargs go to its constructor)."""
    return expansion_class(name)(dim=dim, **kwargs)


__all__ = ["EXPANSIONS", "IdentityExpansion", "TokenExpansion", "build_expansion", "expansion_class"]
