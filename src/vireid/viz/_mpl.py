"""Headless matplotlib and saving, through the shared style (:mod:`vireid.viz.style`)."""

from __future__ import annotations

from pathlib import Path

from vireid.viz.style import pyplot, save

__all__ = ["pyplot", "save_figure"]


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a figure atomically in the format of ``path``'s suffix (png, pdf or svg) and close it."""
    return save(fig, path, dpi=dpi)
