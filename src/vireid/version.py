"""vireid's version, declared once in ``pyproject.toml`` and read from the installed metadata (a leaf
module: the CLI reads it without importing the package's lazy API)."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

try:
    __version__ = _distribution_version("vireid")
except PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
    __version__ = "0+unknown"
