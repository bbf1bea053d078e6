"""Headless matplotlib import with a clear message when the [viz] extra is missing."""

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


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a figure as PNG atomically and close it."""
    import io

    from vireid.utils.io import atomic_write

    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())
    return path
