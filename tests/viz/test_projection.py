import numpy as np
import pytest

from vireid.errors import ShapeError
from vireid.viz.projection import tsne, tsne_figure


def _clusters(n_per=15, k=4, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 5
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres])
    return x, np.repeat(np.arange(k), n_per)


def test_tsne_keeps_clusters_and_is_deterministic():
    x, y = _clusters()
    e1 = tsne(x, perplexity=10, iterations=600, seed=0)
    e2 = tsne(x, perplexity=10, iterations=600, seed=0)
    assert e1.shape == (60, 2) and np.array_equal(e1, e2)
    d = ((e1[:, None] - e1[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn_same = (y[d.argmin(1)] == y).mean()
    assert nn_same >= 0.95


def test_tsne_rejects_too_few_points():
    with pytest.raises(ShapeError):
        tsne(np.zeros((2, 4)))


def test_tsne_figure_writes_png(tmp_path):
    x, y = _clusters(n_per=6, k=3)
    mods = np.where(np.arange(len(y)) % 2 == 0, "visible", "infrared")
    out = tsne_figure(x, y, mods, tmp_path / "tsne.png", perplexity=5)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _captured(monkeypatch, module):
    figs = []
    monkeypatch.setattr(module, "save_figure", lambda fig, out: figs.append(fig) or out)
    return figs


def test_tsne_legend_explains_markers_in_a_neutral_colour_and_axes_are_labelled(tmp_path, monkeypatch):
    import vireid.viz.projection as projection

    figs = _captured(monkeypatch, projection)
    x, y = _clusters(n_per=6, k=3)
    mods = np.tile(["visible", "infrared"], len(y) // 2)
    tsne_figure(x, y, mods, tmp_path / "t.png", perplexity=5)
    ax = figs[0].axes[0]
    legend = ax.get_legend()
    assert "colour: identity" in legend.get_title().get_text() and "marker: modality" in legend.get_title().get_text()
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[0].startswith("visible") and texts[1].startswith("infrared")
    for handle in legend.legend_handles:  # white markers: the legend does not claim an identity's colour
        assert handle.get_markerfacecolor() == "white"
    assert ax.get_xlabel() and ax.get_ylabel()
