"""Headless matplotlib import with a clear message when the [viz] extra is missing, and the one
way a picture is saved (:func:`save_figure`, through the output policy)."""

from __future__ import annotations

from pathlib import Path

from vireid.errors import VireidError


def pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise VireidError("pictures need matplotlib: pip install 'vireid[viz]'") from None
    return plt


def picture_out(path: str | Path) -> Path:
    """``path`` checked as a picture output (:func:`vireid.utils.outputs.check_file`: a ``.png``,
    ``.pdf`` or ``.svg`` path vireid may write) -- every figure function asks before it draws."""
    from vireid.utils.outputs import PICTURE, check_file

    return check_file(path, PICTURE)


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a figure atomically in the format its suffix names (PNG, PDF or SVG), marked as
    vireid's picture in its metadata, and close it."""
    import io

    from vireid.utils.io import atomic_write_bytes
    from vireid.utils.outputs import PICTURE, picture_metadata

    path = picture_out(path)
    buf = io.BytesIO()
    fmt = path.suffix.lower().lstrip(".")
    try:
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=picture_metadata(path))
    finally:
        pyplot().close(fig)
    atomic_write_bytes(path, buf.getvalue(), kind=PICTURE)
    return path
