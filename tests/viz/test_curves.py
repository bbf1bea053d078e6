"""Training curves from metrics.jsonl: reading the log, the panels, the mean over a row's runs."""

import json
import re

import numpy as np
import pytest

from tests.report.fake import log_records
from vireid.errors import VireidError
from vireid.viz.curves import Series, curves_figure, read_log


def test_read_log_skips_a_partial_last_line_and_refuses_other_files(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in log_records()) + '{"step": 13, "loss/id"')
    assert len(read_log(path)) == len(log_records())
    (tmp_path / "x.jsonl").write_text("hello\n[1, 2]\n")
    with pytest.raises(VireidError, match="holds no training records"):
        read_log(tmp_path / "x.jsonl")
    with pytest.raises(VireidError, match="not found"):
        read_log(tmp_path / "nope.jsonl")


def test_one_run_draws_each_term_the_evaluations_and_the_lr():
    recs = log_records()
    fig = curves_figure([Series("run", (tuple(recs),))])
    loss, evals, lr = fig.axes
    by_label = {ln.get_label(): ln for ln in loss.get_lines()}
    ident = by_label["identity (CE)"]
    train = [r for r in recs if "loss/id" in r]
    assert list(ident.get_xdata()) == [r["epoch"] for r in train]
    assert list(ident.get_ydata()) == [r["loss/id"] for r in train]
    rank1 = {ln.get_label(): ln for ln in evals.get_lines()}["Rank-1"]
    assert list(rank1.get_ydata()) == pytest.approx([20.0, 30.0, 40.0])  # % of the eval/rank1 fractions
    assert loss.get_yscale() == "log" and lr.get_yscale() == "linear"


def test_several_runs_of_a_row_draw_their_mean_and_range():
    runs = (tuple(log_records(scale=1.0)), tuple(log_records(scale=2.0)))
    fig = curves_figure([Series("deen", runs), Series("agw", (tuple(log_records(scale=0.5)),))])
    loss = fig.axes[0]
    deen = next(ln for ln in loss.get_lines() if ln.get_label().startswith("deen"))
    totals = np.array([[r["loss/total"] for r in run if "loss/total" in r] for run in runs])
    assert list(deen.get_ydata()) == pytest.approx(list(totals.mean(0)))
    band = loss.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(totals.min()) and band.max() == pytest.approx(totals.max())


def test_nothing_to_draw():
    with pytest.raises(VireidError, match="no training records"):
        curves_figure([])


def test_a_log_without_loss_windows_draws_the_other_panels():
    """A run shorter than train.log_every logs no training window: no loss panel, no empty legend."""
    recs = [r for r in log_records() if "loss/total" not in r]
    fig = curves_figure([Series("short", (tuple(recs),)), Series("other", (tuple(recs),))])
    assert [ax.get_ylabel() for ax in fig.axes] == ["score (%)"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["short", "other"]


def test_a_run_with_one_logged_window_is_drawn_as_points():
    """A short run (fewer steps than two log windows) gets markers: a one-point line would be invisible."""
    short = [{"step": 20, "epoch": 1.0, "lr": 0.003, "loss/total": 30.0}, {"step": 30, "epoch": 2, "eval/rank1": 0.05}]
    other = [dict(r, **{"loss/total": 25.0}) if "loss/total" in r else r for r in short]
    fig = curves_figure([Series("a", (tuple(short), tuple(other)))])
    loss = fig.axes[0]
    (line,) = [ln for ln in loss.get_lines() if ln.get_label().startswith("total")]
    assert line.get_marker() not in (None, "None", "") and list(line.get_ydata()) == [27.5]


def _write_log(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_a_corrupt_line_before_the_last_is_an_error_naming_file_and_line(tmp_path):
    """Only a partial last line (a run killed mid-write) is skipped; garbage anywhere else was
    skipped silently too."""
    good = [json.dumps(r) for r in log_records()]
    for junk, said in (
        ("garbage{", "not valid JSON"),
        ("[1, 2]", "an array, not a record"),
        ('{"epoch": 1.0}', "a record without 'step'"),
        ('{"step": 1, "epoch": 0.5, "lr": "x"}', "'lr' is 'x', expected a number"),
        ('{"step": 1, "epoch": 0.5, "loss/total": {"a": 1}}', "'loss/total' is {'a': 1}, expected a number"),
    ):
        path = _write_log(tmp_path / "m.jsonl", [*good[:2], junk, *good[2:]])
        with pytest.raises(VireidError, match=rf"m\.jsonl:3: {re.escape(said)}"):
            read_log(path)
    # a complete (newline-ended) bad last line is no partial write either
    with pytest.raises(VireidError, match=r"m\.jsonl:\d+: not valid JSON"):
        read_log(_write_log(tmp_path / "m.jsonl", [*good, "garbage{"]))
    # the logger's non-finite values are numbers; blank lines are nothing
    diverged = dict(log_records()[0], **{"loss/total": "nan", "lr": "inf"})
    assert len(read_log(_write_log(tmp_path / "m.jsonl", ["", json.dumps(diverged), *good]))) == len(good) + 1


def test_curves_of_a_log_with_nothing_to_draw_is_one_line_naming_the_file(tmp_path, capsys):
    """It drew an empty picture and printed matplotlib's "No artists with labels" warning."""
    import warnings

    from vireid.cli.main import main

    mark = json.dumps({"vireid": {"kind": "training-log", "version": "0.1.0"}})
    log = _write_log(tmp_path / "w.jsonl", [mark, json.dumps({"step": 1, "images_per_s": 3.0})])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["visualize", "curves", "--log", str(log), "--out", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "w.jsonl: holds no curve to draw" in err[0], err
    assert not (tmp_path / "c.png").exists()
    log = _write_log(tmp_path / "w.jsonl", [mark, json.dumps({"step": 1, "lr": "x", "loss/total": {"a": 1}})])
    assert main(["visualize", "curves", "--log", str(log), "--out", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "w.jsonl:2: 'lr' is 'x', expected a number" in err[0], err


def test_no_empty_legend_when_a_panel_draws_nothing():
    """A loss logged only as a non-finite value and evaluations at no epoch: no legend() on an
    axes without labelled lines (matplotlib warns)."""
    import warnings

    recs = [{"step": 1, "epoch": 0.5, "lr": 0.1, "loss/total": "nan"}, {"step": 2, "eval/rank1": 0.2}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = curves_figure([Series("run", (tuple(recs),))])
    assert [ax.get_ylabel() for ax in fig.axes] == ["learning rate (per step)"]
