"""vireid: visible-infrared person re-identification toolkit."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version
from typing import Any

try:  # the version is declared once, in pyproject.toml, and read from the installed metadata
    __version__ = _distribution_version("vireid")
except PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "load_model"]


def __getattr__(name: str) -> Any:
    # lazy: ``import vireid`` (and ``vireid --help``) must not import torch
    if name == "load_model":
        from vireid.inference import load_model

        return load_model
    raise AttributeError(f"module 'vireid' has no attribute {name!r}")
