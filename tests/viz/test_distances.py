import numpy as np

from vireid.viz.distances import distance_histogram_figure, pair_distances


def test_pair_counts_and_split():
    pids = np.array([0, 0, 1, 1])
    mods = np.array(["visible", "infrared", "visible", "infrared"])
    feats = np.eye(4)
    parts = pair_distances(feats, pids, mods)
    assert len(parts["intra_cross"]) == 2  # (0,1), (2,3)
    assert len(parts["intra_within"]) == 0
    assert len(parts["inter_within"]) == 2  # (0,2), (1,3)
    assert len(parts["inter_cross"]) == 2  # (0,3), (1,2)
    assert np.allclose(parts["intra_cross"], np.sqrt(2))


def test_histogram_png(tmp_path):
    rng = np.random.default_rng(0)
    pids = np.repeat(np.arange(5), 4)
    mods = np.tile(["visible", "visible", "infrared", "infrared"], 5)
    out = distance_histogram_figure(rng.normal(size=(20, 8)), pids, mods, tmp_path / "d.png")
    assert out.stat().st_size > 1000


def test_histograms_have_both_axis_labels(tmp_path, monkeypatch):
    import vireid.viz.distances as distances

    figs = []
    monkeypatch.setattr(distances, "save_figure", lambda fig, out: figs.append(fig) or out)
    rng = np.random.default_rng(0)
    pids = np.repeat(np.arange(5), 4)
    mods = np.tile(["visible", "visible", "infrared", "infrared"], 5)
    distance_histogram_figure(rng.normal(size=(20, 8)), pids, mods, tmp_path / "d.png")
    for ax in figs[0].axes:
        assert "distance" in ax.get_xlabel() and "density" in ax.get_ylabel()


def test_one_modality_draws_no_empty_legend(tmp_path, monkeypatch):
    """One modality: no cross-modality pairs, said on the axis -- no legend without artists (a
    matplotlib warning on stderr; found by the fuzzer)."""
    import warnings

    import vireid.viz.distances as distances

    figs = []
    monkeypatch.setattr(distances, "save_figure", lambda fig, out: figs.append(fig) or out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distance_histogram_figure(np.eye(4), [1, 1, 2, 2], ["visible"] * 4, tmp_path / "d.png")
    within, cross = figs[0].axes
    assert within.get_legend() is not None and cross.get_legend() is None
    assert [t.get_text() for t in cross.texts] == ["no cross-modality pairs"]
