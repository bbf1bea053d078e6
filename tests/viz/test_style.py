"""Every vireid picture, rendered and read back from its figure object: its title, axis labels (with
units), legend entries, palette, sizes and fonts.  A new ``*_figure`` in :mod:`vireid.viz` must get
a case here (the walk below fails otherwise)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

import vireid.viz
from tests.report.fake import log_records, metrics
from vireid.errors import VireidError
from vireid.viz import style

#: what an axis label must say its unit is (or that it has none)
UNITS = ("(%)", "(pp)", "epoch", "rank k", "(unitless", "(per step", "density", "distance", "t-SNE dimension")


def _capture(monkeypatch, module):
    figs = []
    monkeypatch.setattr(module, "save_figure", lambda fig, out, **kw: figs.append(fig) or out)
    return figs


def _images(tmp_path, n=6):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        p = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 20, 3), dtype=np.uint8)).save(p)
        out.append(str(p))
    return out


def cmc(tmp_path, monkeypatch):
    from vireid.viz.cmc import cmc_figure, metrics_panel

    return cmc_figure([metrics_panel(metrics("llcm", 0.5), title="CMC: run")])


def curves_one(tmp_path, monkeypatch):
    from vireid.viz.curves import Series, curves_figure

    return curves_figure([Series("run", (tuple(log_records()),))])


def curves_several(tmp_path, monkeypatch):
    from vireid.viz.curves import Series, curves_figure

    runs = tuple(tuple(log_records(scale=s)) for s in (1.0, 1.2))
    return curves_figure([Series("deen", runs), Series("agw", (tuple(log_records(scale=0.5)),))])


def comparison(tmp_path, monkeypatch):
    from vireid.viz.compare import Entry, comparison_figure

    entries = [
        Entry("DEEN (published)", {"rank1": (74.7, None), "mAP": (71.8, None)}, published=True),
        Entry("ours (n = 3)", {"rank1": (70.0, 1.5), "mAP": (66.0, 2.0)}),
    ]
    return comparison_figure([("SYSU-MM01, All-search", entries)])


def forest(tmp_path, monkeypatch):
    from vireid.viz.forest import Group, Line, forest_figure

    groups = [
        Group("Which module?", "DEE", (Line("T-MHEE", 6.7, -0.9, 14.4, False), Line("CM-ATM", 8.0, 1.0, 15.0, True)))
    ]
    return forest_figure([("Δ Rank-1", groups)])


def rank_list(tmp_path, monkeypatch):
    from vireid.viz import ranks

    figs = _capture(monkeypatch, ranks)
    imgs = _images(tmp_path)
    dist = np.random.default_rng(1).random((2, 4))
    ranks.rank_list_figure(dist, imgs[:2], [1, 2], imgs[2:6], [1, 2, 2, 1], tmp_path / "r.png", topk=3, title="ranks")
    return figs[0]


def protocol_ranks(tmp_path, monkeypatch):
    from vireid.data.records import Record
    from vireid.viz import ranks

    figs = _capture(monkeypatch, ranks)
    imgs = _images(tmp_path)
    q = [Record(imgs[0], 1, 3, "infrared")]
    g = [Record(p, pid, 1, "visible") for p, pid in zip(imgs[1:5], [1, 2, 1, 3], strict=True)]
    ranks.protocol_rank_figure(np.arange(4.0)[None], q, g, tmp_path / "p.png", protocol="sysu", topk=2, title="p")
    return figs[0]


def tsne(tmp_path, monkeypatch):
    from vireid.viz import projection

    figs = _capture(monkeypatch, projection)
    x = np.random.default_rng(0).normal(size=(12, 4))
    projection.tsne_figure(x, np.repeat([1, 2, 3], 4), ["visible", "infrared"] * 6, tmp_path / "t.png")
    return figs[0]


def distances(tmp_path, monkeypatch):
    from vireid.viz import distances

    figs = _capture(monkeypatch, distances)
    x = np.random.default_rng(0).normal(size=(12, 4))
    distances.distance_histogram_figure(x, np.repeat([1, 2, 3], 4), ["visible", "infrared"] * 6, tmp_path / "d.png")
    return figs[0]


def attention(tmp_path, monkeypatch):
    from vireid.viz import attention

    figs = _capture(monkeypatch, attention)
    img = np.zeros((32, 16, 3), np.uint8)
    attention.attention_figure(img, {"CAM": np.ones((4, 2))}, tmp_path / "a.png", title="attention")
    return figs[0]


#: picture -> (its builder, title, {axes index: (xlabel, ylabel)}, legend entries, follows the paper layout)
CASES = {
    "cmc_figure": (
        cmc,
        "CMC: run",
        {0: ("rank k", "matching rate at rank k (%)")},
        [
            "infrared to visible, 10 trials",
            "visible to infrared, 10 trials",
            "visible to infrared, as published, 10 trials",
        ],
        True,
    ),
    "curves_figure": (
        curves_one,
        "run: training curves",
        {
            0: ("", "weighted loss (unitless, log scale)"),
            1: ("", "score (%)"),
            2: ("epoch", "learning rate (per step)"),
        },
        [
            "total (their sum)",
            "identity (CE)",
            "orthogonal (DEE)",
            "triplet",
            "Rank-1",
            "mAP",
        ],
        True,
    ),
    "curves_figure (several)": (
        curves_several,
        "total training loss",
        {0: ("", "total loss (unitless)"), 1: ("", "score (%)"), 2: ("epoch", "learning rate (per step)")},
        ["deen (mean of 2 runs; band: their range)", "agw"],
        True,
    ),
    "comparison_figure": (
        comparison,
        "SYSU-MM01, All-search",
        {0: ("score (%) (bars: ± std over a row's runs)", "")},
        ["Rank-1 (published)", "Rank-1", "mAP (published)", "mAP"],
        True,
    ),
    "forest_figure": (
        forest,
        "",
        {0: ("Δ Rank-1 (pp)\n95 % interval", "")},
        ["reference: difference 0", "interval excludes 0 (*)", "interval holds 0"],
        True,
    ),
    "rank_list_figure": (rank_list, "ranks", {}, [], False),
    "protocol_rank_figure": (protocol_ranks, "p", {}, [], False),
    "tsne_figure": (
        tsne,
        "t-SNE of descriptors (one colour per identity, marker = modality)",
        {0: ("t-SNE dimension 1", "t-SNE dimension 2")},
        ["visible (6 images)", "infrared (6 images)"],
        False,
    ),
    "distance_histogram_figure": (
        distances,
        "within-modality pairs",
        {
            0: ("Euclidean distance of L2-normalised descriptors", "density (each histogram integrates to 1)"),
            1: ("Euclidean distance of L2-normalised descriptors", "density (each histogram integrates to 1)"),
        },
        None,
        False,
    ),
    "attention_figure": (attention, "input", {}, [], False),
}


def test_every_picture_has_a_case():
    found = set()
    for mod in pkgutil.iter_modules(vireid.viz.__path__):
        module = importlib.import_module(f"vireid.viz.{mod.name}")
        found |= {
            n
            for n, f in inspect.getmembers(module, inspect.isfunction)
            if n.endswith("_figure") and n != "save_figure" and f.__module__ == module.__name__
        }
    assert found == {name.split(" ")[0] for name in CASES}


def _legend_texts(fig):
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


@pytest.mark.parametrize("name", list(CASES))
def test_picture_texts_units_palette_and_size(name, tmp_path, monkeypatch):
    build, title, labels, legend, paper = CASES[name]
    fig = build(tmp_path, monkeypatch)
    titles = [ax.get_title() for ax in fig.axes] + ([fig._suptitle.get_text()] if fig._suptitle else [])
    if title:
        assert title in titles, titles
    for i, (xlabel, ylabel) in labels.items():
        ax = fig.axes[i]
        assert (ax.get_xlabel(), ax.get_ylabel()) == (xlabel, ylabel)
        for text in (xlabel, ylabel):
            assert not text or any(u in text for u in UNITS), text
    if legend is not None:
        assert sorted(_legend_texts(fig)) == sorted(legend)
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]
    assert min(t.get_fontsize() for t in texts) >= 6, "unreadable at print size"
    if paper:  # the paper pictures: column or page width, the colour-blind-safe palette
        assert fig.get_figwidth() in (style.COLUMN_WIDTH, style.PAGE_WIDTH)
        allowed = {c.lower() for c in style.PALETTE} | {style.GREY.lower()}
        used = {to_hex(ln.get_color()) for ax in fig.axes for ln in ax.get_lines() if ln.get_visible()}
        assert used and used <= allowed, used - allowed
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("fmt, magic", [("pdf", b"%PDF"), ("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_save_writes_each_format_with_its_text_kept(fmt, magic, tmp_path, monkeypatch):
    fig = cmc(tmp_path, monkeypatch)
    path = style.save_picture(fig, tmp_path / f"cmc.{fmt}")
    data = path.read_bytes()
    assert data.startswith(magic)
    if fmt == "svg":
        assert b"<text" in data and b"matching rate at rank k" in data  # text, not outlines
    if fmt == "pdf":
        assert b"/FontFile2" in data  # TrueType embedded: editable, searchable
    assert [p.name for p in tmp_path.iterdir()] == [f"cmc.{fmt}"]  # no temporary file left


def test_save_refuses_other_formats(tmp_path, monkeypatch):
    fig = cmc(tmp_path, monkeypatch)
    with pytest.raises(VireidError, match=r"names a picture \(.png, .pdf or .svg\), not a .jpg file"):
        style.save_picture(fig, tmp_path / "cmc.jpg")
    assert not list(tmp_path.iterdir())


def test_palette_is_okabe_ito_and_distinct():
    assert len(set(style.PALETTE)) == len(style.PALETTE) == 8
    assert style.GOOD != style.BAD and {style.GOOD, style.BAD} <= set(style.PALETTE)
