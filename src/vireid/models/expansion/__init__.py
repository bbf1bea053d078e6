"""Token expansion modules for DEEN-ViT: DEE (2D / 1D), T-MHEE, CM-ATM, SS-DEC and "none".

Each module registers itself where it is defined (:func:`register_expansion`); importing this
package imports them all.  DEEN-ViT's ``expansion`` names one, and ``expansion_kwargs`` are its
constructor keywords after ``dim``, checked against their declared types and rules.
"""

from __future__ import annotations

from vireid.models.expansion import cmatm, dee, ssdec, tmhee  # noqa: F401  (register the built-in modules)
from vireid.models.expansion.base import (
    EXPANSIONS,
    BranchExpansion,
    IdentityExpansion,
    TokenExpansion,
    register_expansion,
)


def expansion_class(name: str) -> type[TokenExpansion]:
    """The class implementing expansion ``name`` (a :class:`ConfigError` for unknown names)."""
    return EXPANSIONS.get(name)


def build_expansion(name: str, dim: int, **kwargs) -> TokenExpansion:
    """Build the expansion module ``name`` for ``dim``-channel tokens (kwargs go to its constructor)."""
    return expansion_class(name)(dim=dim, **kwargs)


__all__ = [
    "EXPANSIONS",
    "BranchExpansion",
    "IdentityExpansion",
    "TokenExpansion",
    "build_expansion",
    "expansion_class",
    "register_expansion",
]
