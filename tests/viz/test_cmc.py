"""CMC curves from metrics.json: the mean curve per direction, older files' four ranks, the CLI."""

import json

import numpy as np
import pytest

from tests.report.fake import metrics
from vireid.cli.main import main
from vireid.errors import VireidError
from vireid.evaluation.result import EvalResult, aggregate
from vireid.viz.cmc import cmc_figure, direction_curve, metrics_panel


def test_aggregate_reports_the_mean_cmc_to_rank_20():
    a = EvalResult(np.array([0.5, 0.7, 1.0]), 0.4, 0.3, 3)  # a gallery of 3: saturates after rank 3
    b = EvalResult(np.linspace(0.3, 1.0, 25), 0.4, 0.3, 3)
    cmc = aggregate([a, b])["cmc"]
    assert len(cmc) == 20
    assert cmc[0] == pytest.approx((0.5 + 0.3) / 2) and cmc[0] == aggregate([a, b])["mean"]["rank1"]
    assert cmc[9] == pytest.approx((1.0 + b.rank(10)) / 2) and cmc[19] == pytest.approx((1.0 + b.rank(20)) / 2)


def test_a_direction_curve_is_its_cmc_else_the_four_ranks():
    d = metrics("sysu", 0.5)["directions"]["infrared_to_visible"]
    curve = direction_curve(d, "x")
    assert curve.ranks == tuple(range(1, 21)) and curve.values == tuple(d["cmc"])
    old = {k: v for k, v in d.items() if k != "cmc"}
    curve = direction_curve(old, "x")
    assert curve.ranks == (1, 5, 10, 20) and curve.values == tuple(d["mean"][f"rank{k}"] for k in (1, 5, 10, 20))
    assert "ranks 1, 5, 10, 20 only" in curve.label


def test_llcm_panel_names_the_published_orientation():
    panel = metrics_panel(metrics("llcm", 0.5))
    assert [c.label for c in panel.curves] == [
        "infrared to visible, 10 trials",
        "visible to infrared, 10 trials",
        "visible to infrared, as published, 10 trials",
    ]
    fig = cmc_figure([panel])
    line = fig.axes[0].get_lines()[0]
    assert list(line.get_ydata()) == pytest.approx([100 * v for v in panel.curves[0].values])


def test_visualize_cmc_and_curves_from_files(tmp_path, capsys):
    from tests.report.fake import make_run

    run = make_run(tmp_path / "run")
    assert main(["visualize", "cmc", "--metrics", str(run / "metrics.json"), "--out", str(tmp_path / "c.svg")]) == 0
    assert main(["visualize", "curves", "--log", str(run / "metrics.jsonl"), "--out", str(tmp_path / "t.pdf")]) == 0
    assert (tmp_path / "c.svg").read_bytes().startswith(b"<?xml") and (tmp_path / "t.pdf").read_bytes()[:4] == b"%PDF"
    capsys.readouterr()
    (tmp_path / "bad.json").write_text(json.dumps({"mean": {}}))
    for argv, message in (
        (["cmc", "--metrics", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x.png")], "not a vireid metrics"),
        (["cmc", "--metrics", str(run / "metrics.json"), "--out", str(run / "metrics.json")], "also the metrics file"),
        (["curves", "--log", str(run / "metrics.json"), "--out", str(tmp_path / "x.png")], "holds no training records"),
        (["curves", "--log", str(run / "metrics.jsonl"), "--out", str(tmp_path / "x.gif")], "not a .gif file"),
    ):
        assert main(["visualize", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_no_directions_no_picture():
    with pytest.raises(VireidError, match="no 'directions'"):
        metrics_panel({"protocol": "sysu"})
