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
