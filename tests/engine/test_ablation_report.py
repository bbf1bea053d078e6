"""The ablation report's paired comparison with the reference cell, on hand-made metrics (no training)."""

import json

import pytest

from vireid.config import load_config
from vireid.config.shipped import CONFIG_DIR as CONFIGS
from vireid.engine.ablation import (
    RunResult,
    markdown_table,
    notes,
    plot,
    reference_combos,
    report_markdown,
    run_ablation,
    summarize,
)
from vireid.engine.run import TrainResult

EXP = "model.args.expansion"
DEPTH = "model.args.stage4_depth"
T_975_2 = 4.3026527  # two-sided 95 % Student-t critical value, 2 degrees of freedom

REF = [0.50, 0.60, 0.70]  # large spread between seeds ...
TMHEE = [0.53, 0.62, 0.74]  # ... but +3, +2, +4 on every seed: better
CMATM = [0.60, 0.52, 0.71]  # +10, -8, +1: no difference
DEPTH3 = [0.45, 0.56, 0.64]  # -5, -4, -6: worse


def _runs(combo, values, reference=False):
    return [
        RunResult(combo, s, {"rank1": v, "mAP": v / 2, "mINP": v / 4}, 10.0, 1000, reference)
        for s, v in enumerate(values)
    ]


def _table():
    """A one-factor-at-a-time table: the reference cell appears once per axis (the same runs)."""
    return (
        _runs({EXP: "dee"}, REF, True)
        + _runs({EXP: "tmhee"}, TMHEE)
        + _runs({EXP: "cmatm"}, CMATM)
        + _runs({DEPTH: "1"}, REF, True)
        + _runs({DEPTH: "2"}, [0.9][:1])
        + _runs({DEPTH: "3"}, DEPTH3)
    )


def test_paired_differences_and_verdicts_by_hand():
    rows = summarize(_table())
    by = {json.dumps(r["combo"]): r for r in rows}
    ref = by[json.dumps({EXP: "dee"})]
    assert ref["reference"] and ref["diff"] is None and ref["verdict"] == "reference"
    assert by[json.dumps({DEPTH: "1"})]["verdict"] == "reference"

    tmhee = by[json.dumps({EXP: "tmhee"})]
    d = tmhee["diff"]["rank1"]
    assert d.seeds == (0, 1, 2) and d.mean == pytest.approx(0.03) and d.std == pytest.approx(0.01)
    assert d.half_width == pytest.approx(T_975_2 * 0.01 / 3**0.5, rel=1e-6)  # 0.0248418
    assert (d.low, d.high) == pytest.approx((0.0051582, 0.0548418), abs=1e-6)
    assert tmhee["diff"]["mAP"].mean == pytest.approx(0.015)
    assert tmhee["diff"]["mAP"].half_width == pytest.approx(T_975_2 * 0.005 / 3**0.5, rel=1e-6)
    assert tmhee["verdict"] == "better"

    cmatm = by[json.dumps({EXP: "cmatm"})]
    assert cmatm["diff"]["rank1"].mean == pytest.approx(0.01)
    assert cmatm["diff"]["rank1"].half_width == pytest.approx(T_975_2 * 0.09 / 3**0.5, rel=1e-6)  # 0.223572
    assert cmatm["verdict"] == "no difference at this scale"
    assert by[json.dumps({DEPTH: "3"})]["verdict"] == "worse"
    one = by[json.dumps({DEPTH: "2"})]
    assert one["diff"]["rank1"].seeds == (0,) and one["diff"]["rank1"].mean == pytest.approx(0.4)
    assert one["verdict"] == "one seed: no interval"

    table = markdown_table(rows).splitlines()
    assert "| Δ Rank-1 (pp) [95 % CI] | Δ mAP (pp) [95 % CI] | verdict (Rank-1) |" in table[0]
    assert table[1].count("---") == len(table[0].split("|")) - 2
    line = {
        name: next(x for x in table if x.startswith(start))
        for name, start in (
            ("tmhee", "| tmhee |"),
            ("cmatm", "| cmatm |"),
            ("dee", "| dee |"),
            ("3", "| (base) | 3 |"),
            ("2", "| (base) | 2 |"),
        )
    }
    assert "| 63.0 ± 10.5 | 31.5 ± 5.3 | 15.8 ± 2.6 | +3.0 [+0.5, +5.5] | +1.5 [+0.3, +2.7] | better |" in line["tmhee"]
    assert "| +1.0 [-21.4, +23.4] | +0.5 [-10.7, +11.7] | no difference at this scale |" in line["cmatm"]
    assert "| -5.0 [-7.5, -2.5] | -2.5 [-3.7, -1.3] | worse |" in line["3"]
    assert "| +40.0 (n = 1) | +20.0 (n = 1) | one seed: no interval |" in line["2"]
    assert "| – | – | reference |" in line["dee"]
    text = notes(rows)
    assert "reference cell (expansion=dee: the base config" in text and "95 % Student-t" in text
    assert report_markdown(rows) == markdown_table(rows) + "\n\n" + text


def test_no_reference_cell_no_comparison():
    rows = summarize([RunResult(r.combo, r.seed, r.metrics, r.train_seconds, r.params) for r in _table()])
    assert all(r["diff"] is None and r["verdict"] is None for r in rows)
    assert "verdict" not in markdown_table(rows) and notes(rows) == ""


def test_plot_shows_the_intervals_as_error_bars(tmp_path, monkeypatch):
    from matplotlib.container import BarContainer

    import vireid.viz._mpl as mpl

    figs = []
    monkeypatch.setattr(mpl, "save_figure", lambda fig, out: figs.append(fig) or out)
    rows = summarize([r for r in _table() if r.combo != {DEPTH: "2"}])  # every cell has three seeds
    plot(rows, tmp_path / "a.png")
    top, diff = figs[0].axes
    assert top.get_ylabel() == "metric (%)" and "mean ± std over 3 seeds" in top.get_title()
    assert diff.get_ylabel() == "Δ vs reference (pp)" and "95 % CI" in diff.get_title()
    rank1, mAP = [c for c in diff.containers if isinstance(c, BarContainer)]
    assert [b.get_height() for b in rank1] == pytest.approx([0.0, 3.0, 1.0, 0.0, -5.0])
    assert [b.get_height() for b in mAP] == pytest.approx([0.0, 1.5, 0.5, 0.0, -2.5])
    # error bars: [mean - half, mean + half] of each paired difference, in percentage points
    segments = rank1.errorbar.lines[2][0].get_segments()
    spans = [y for s in segments for y in (s[0][1], s[1][1])]
    half = [0.0, 100 * T_975_2 * 0.01 / 3**0.5, 100 * T_975_2 * 0.09 / 3**0.5, 0.0, 100 * T_975_2 * 0.01 / 3**0.5]
    want = [y for m, h in zip([0.0, 3.0, 1.0, 0.0, -5.0], half, strict=True) for y in (m - h, m + h)]
    assert spans == pytest.approx(want, abs=1e-6)
    assert [t.get_text() for t in diff.get_xticklabels()][0] == "expansion=dee (ref)"


def _fake_train(cfg, run_dir, quiet=True):
    """Rank-1 0.5 + 0.1 * seed for the base; lr 0.01 adds 0.05 on every seed (better); margin 0.5
    adds +0.1 / -0.1 alternately (no difference)."""
    import torch

    r1 = 0.5 + 0.1 * cfg.train.seed + (0.05 if cfg.optim.lr == 0.01 else 0.0)
    if cfg.loss.terms["triplet"]["margin"] == 0.5:
        r1 += 0.1 if cfg.train.seed % 2 else -0.1
    return TrainResult(
        {"mean": {"rank1": r1, "mAP": r1, "mINP": r1}, "train_seconds": 1.0},
        model=torch.nn.Linear(2, 2),
        dataset=None,
        evaluation=[],
    )


def test_run_ablation_marks_the_reference_and_writes_the_verdicts(tmp_path):
    base = load_config(CONFIGS / "test_tiny.yaml", ["optim.lr=0.1", "loss.triplet.margin=0.3"])
    grid = {"optim.lr": ["0.1", "0.01"], "loss.triplet.margin": ["0.3", "0.5"]}
    rows = run_ablation(base, grid, tmp_path, seeds=[0, 1, 2], mode="each", train_fn=_fake_train, log=lambda s: None)
    assert [r["verdict"] for r in rows] == ["reference", "better", "reference", "no difference at this scale"]
    assert rows[1]["diff"]["rank1"].mean == pytest.approx(0.05) and rows[1]["diff"]["rank1"].half_width == 0.0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["reference"] for r in saved if r["seed"] == 0] == [True, False, True, False]
    md = (tmp_path / "ablation.md").read_text()
    assert "| +5.0 [+5.0, +5.0] |" in md and "reference cell (lr=0.1: the base config" in md
    # reading results.json back gives the same report
    assert summarize([RunResult(**r) for r in saved]) == rows


def test_reference_is_the_base_config_else_the_first_cell():
    base = load_config(CONFIGS / "test_tiny.yaml", ["optim.lr=0.1", "loss.triplet.margin=0.3"])
    each = [{"optim.lr": "0.01"}, {"optim.lr": "0.1"}, {"loss.triplet.margin": "0.3"}]
    assert reference_combos(base, each) == [{"optim.lr": "0.1"}, {"loss.triplet.margin": "0.3"}]
    product = [{"optim.lr": "0.01", "loss.triplet.margin": "0.5"}, {"optim.lr": "0.02", "loss.triplet.margin": "0.5"}]
    assert reference_combos(base, product) == product[:1]
