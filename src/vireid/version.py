"""vireid's version (a leaf module: the CLI reads it without importing the package's lazy API)."""

__version__ = "0.1.0"
