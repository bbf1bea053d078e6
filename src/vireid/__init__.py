"""vireid: visible-infrared person re-identification toolkit."""

from typing import Any

from vireid.version import __version__

__all__ = ["__version__", "load_model"]


def __getattr__(name: str) -> Any:
    # lazy: ``import vireid`` (and ``vireid --help``) must not import torch
    if name == "load_model":
        from vireid.inference import load_model

        return load_model
    raise AttributeError(f"module 'vireid' has no attribute {name!r}")
