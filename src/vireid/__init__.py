"""vireid: visible-infrared person re-identification toolkit."""

__version__ = "0.1.0"

__all__ = ["__version__"]
