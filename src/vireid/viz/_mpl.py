"""Headless matplotlib and the one way a picture is saved: through the shared style
(:mod:`vireid.viz.style`) and the output policy (:func:`picture_out`)."""

from __future__ import annotations

from pathlib import Path

from vireid.viz.style import picture_out, pyplot, save_picture

__all__ = ["picture_out", "pyplot", "save_figure"]


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a figure atomically in the format its suffix names (PNG, PDF or SVG), marked as
    vireid's picture in its metadata, and close it."""
    return save_picture(fig, path, dpi=dpi)
