"""The one style of every vireid picture: sizes, fonts, colours and how a figure is saved.

Pictures are meant for papers:

* **Size.** :data:`COLUMN_WIDTH` (3.5 in, one column of a two-column IEEE/CVF paper) or
  :data:`PAGE_WIDTH` (7.0 in, a ``figure*``); fonts of 7-8 pt, the size of a caption, so a
  figure printed at its own width needs no scaling.
* **Colours.** :data:`PALETTE` is Okabe & Ito's colour-blind-safe set ("Color Universal Design",
  2008); lines also differ by marker (:data:`MARKERS`), so the picture reads in grey too.
  :data:`SEQUENTIAL` is perceptually uniform and colour-blind safe (viridis).
* **Vector output.** :func:`save_picture` writes PDF, SVG or PNG, chosen by the file's suffix; PDF and
  SVG keep their text as text (TrueType in PDF, ``svg.fonttype: none``), so it stays editable
  and searchable.  Every file is written atomically (:func:`vireid.utils.io.atomic_write`),
  marked as vireid's picture in its metadata, where the output policy allows
  (:mod:`vireid.utils.outputs`).
* **Labels.** Every axis names its quantity and its unit ("Rank-1 (%)", "epoch"); a test reads
  them back from each figure object.

Figure builders draw inside :func:`context` (matplotlib reads most settings when an artist is
created) and return the figure; :func:`save_picture` writes it.  matplotlib is the ``[viz]`` extra.
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path
from typing import Any, Iterator, Sequence

from vireid.errors import VireidError

COLUMN_WIDTH = 3.5  # inches: one column of a two-column paper
PAGE_WIDTH = 7.0  # inches: the text width of a two-column paper (figure*)
#: Okabe & Ito's colour-blind-safe palette, in the order lines take it (yellow last: weak on white)
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
#: a correct / a wrong match (rank lists, histograms): bluish green and vermillion, told apart by
#: every common colour-vision deficiency
GOOD, BAD = PALETTE[2], PALETTE[1]
GREY = "#7F7F7F"  # reference lines, published values' outlines
SEQUENTIAL = "viridis"  # heat maps: perceptually uniform, colour-blind safe
FORMATS: tuple[str, ...] = ("pdf", "svg", "png")
PNG_DPI = 300

RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 9,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "errorbar.capsize": 2,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": True,  # a legend inside the axes keeps the lines under it readable
    "legend.framealpha": 0.85,
    "legend.edgecolor": "none",
    "legend.borderpad": 0.3,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
}


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend, or a one-line error naming the extra."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise VireidError("pictures need matplotlib: pip install 'vireid[viz]'") from None
    return plt


@contextlib.contextmanager
def context() -> Iterator[Any]:
    """Draw inside this: the vireid style (:data:`RC`, the palette as the colour cycle); yields pyplot."""
    plt = pyplot()
    from cycler import cycler

    rc = dict(RC, **{"axes.prop_cycle": cycler(color=PALETTE)})
    with plt.rc_context(rc):
        yield plt


def styled(fn):
    """Run a figure builder inside :func:`context`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with context():
            return fn(*args, **kwargs)

    return wrapper


def colour(i: int) -> str:
    """The ``i``-th series' colour (cycles through :data:`PALETTE`)."""
    return PALETTE[i % len(PALETTE)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


def width(kind: str | float) -> float:
    """A figure width in inches: ``"column"``, ``"page"`` or a number."""
    if kind == "column":
        return COLUMN_WIDTH
    if kind == "page":
        return PAGE_WIDTH
    return float(kind)


def picture_format(path: str | Path) -> str:
    """The format a picture path asks for (its suffix), refused unless it is one of :data:`FORMATS`."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise VireidError(
            f"{path}: a picture is written as {', '.join('.' + f for f in FORMATS)} (got {fmt or 'none'})"
        )
    return fmt


def render(fig, fmt: str, dpi: int = PNG_DPI, metadata: dict[str, str] | None = None) -> bytes:
    """The figure's bytes in ``fmt`` (its text kept as text in PDF and SVG); the figure stays open."""
    if fmt not in FORMATS:
        raise VireidError(f"unknown picture format {fmt!r}; expected one of {', '.join(FORMATS)}")
    buf = io.BytesIO()
    with pyplot().rc_context({k: v for k, v in RC.items() if k.startswith(("svg.", "pdf.", "ps.", "savefig."))}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata)
    return buf.getvalue()


def picture_out(path: str | Path) -> Path:
    """``path`` checked as a picture output (:func:`vireid.utils.outputs.check_file`: a ``.png``,
    ``.pdf`` or ``.svg`` path vireid may write) -- every figure function asks before it draws."""
    from vireid.utils.outputs import PICTURE, check_file

    return check_file(path, PICTURE)


def save_picture(fig, path: str | Path, *, dpi: int = PNG_DPI, close: bool = True) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format of its suffix (pdf, svg or png), marked
    as vireid's picture in its metadata; the output policy decides whether ``path`` may be written."""
    from vireid.utils.io import atomic_write_bytes
    from vireid.utils.outputs import PICTURE, picture_metadata

    try:
        path = picture_out(path)
        data = render(fig, picture_format(path), dpi, metadata=picture_metadata(path))
    finally:
        if close:
            pyplot().close(fig)
    atomic_write_bytes(path, data, kind=PICTURE)
    return path


def save_all(fig, paths: Sequence[str | Path], *, dpi: int = PNG_DPI) -> list[Path]:
    """Write one figure in several formats (e.g. ``cmc.pdf`` and ``cmc.png``), then close it."""
    try:
        return [save_picture(fig, p, dpi=dpi, close=False) for p in paths]
    finally:
        pyplot().close(fig)
