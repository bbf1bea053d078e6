"""The ablation report's paired comparison with the reference cell, on hand-made metrics (no training)."""

import json

import pytest

from vireid.config import load_config
from vireid.config.shipped import CONFIG_DIR as CONFIGS
from vireid.engine.ablation import (
    RunResult,
    label_rows,
    load_summary,
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


def test_plot_is_a_forest_of_the_paired_differences(tmp_path, monkeypatch):
    """One line per alternative grouped by axis, its interval as the bar, the reference as the zero line,
    significant lines filled and starred; numbers beside each line."""
    import vireid.viz.style as style
    from vireid.engine.ablation import GridLabels

    figs = []
    monkeypatch.setattr(style, "save_picture", lambda fig, out, **kw: figs.append(fig) or out)
    labels = GridLabels(
        titles={EXP: "Which module replaces DEE?"},
        values={EXP: {"dee": "DEE", "tmhee": "T-MHEE", "cmatm": "CM-ATM"}, DEPTH: {"1": "depth 1", "3": "depth 3"}},
    )
    rows = label_rows(summarize([r for r in _table() if r.combo != {DEPTH: "2"}]), labels)
    plot(rows, tmp_path / "a.png")
    fig = figs[0]
    rank1, _, mAP, _ = fig.axes  # a plot and a numbers column per compared score
    assert rank1.get_xlabel() == "Δ Rank-1 (pp)\n95 % interval" and mAP.get_xlabel().startswith("Δ mAP (pp)")
    names = [t.get_text() for t in rank1.get_yticklabels()]
    assert names == ["", "", "T-MHEE *", "CM-ATM", "depth 3 *"]
    headers = [t.get_text() for t in fig.texts if t is not fig._suptitle]
    assert headers == ["Which module replaces DEE? (vs DEE)", "stage4_depth (vs depth 1)"]
    # each line: the interval as a segment, then the mean as a dot (filled when significant)
    segments = [ln for ln in rank1.get_lines() if len(ln.get_xdata()) == 2 and ln.get_linestyle() == "-"]
    dots = [ln for ln in rank1.get_lines() if ln.get_marker() == "o"]
    half = T_975_2 / 3**0.5  # interval half-width per pp of std of the differences
    want = [(3.0, 1.0), (1.0, 9.0), (-5.0, 1.0)]  # (mean, std of the differences) in pp
    assert [tuple(s.get_xdata()) for s in segments] == [
        pytest.approx((m - half * sd, m + half * sd), abs=1e-6) for m, sd in want
    ]
    assert [d.get_xdata()[0] for d in dots] == pytest.approx([m for m, _ in want])
    assert [d.get_markerfacecolor() != "white" for d in dots] == [True, False, True]
    zero = [ln for ln in rank1.get_lines() if ln.get_linestyle() == "--"]
    assert len(zero) == 1 and list(zero[0].get_xdata()) == [0, 0]
    numbers = [t.get_text() for t in fig.axes[1].texts]
    assert numbers == ["+3.0 [+0.5, +5.5]", "+1.0 [-21.4, +23.4]", "-5.0 [-7.5, -2.5]"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["reference: difference 0", "interval excludes 0 (*)", "interval holds 0"]


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
    # reading results.json back gives the same report; the rows carry their names
    assert label_rows(summarize([RunResult(**r) for r in saved])) == rows
    assert [r["label"] for r in rows] == ["lr=0.1", "lr=0.01", "triplet_margin=0.3", "triplet_margin=0.5"]
    # summary.json holds every row, paired differences included, exactly
    back = load_summary(tmp_path / "summary.json")[0]
    keys = ("combo", "label", "axis", "title", "seeds", "rank1", "mAP", "mINP", "per_seed", "verdict", "reference")
    assert [{k: r[k] for k in keys} for r in back] == [{k: r[k] for k in keys} for r in rows]
    for a, b in zip(back, rows, strict=True):
        assert (a["diff"] is None) == (b["diff"] is None)
        for m in a["diff"] or {}:
            x, y = a["diff"][m], b["diff"][m]
            fields = ("seeds", "mean", "std", "half_width", "low", "high")
            assert [getattr(x, f) for f in fields] == [getattr(y, f) for f in fields]


def test_reference_is_the_base_config_else_the_first_cell():
    base = load_config(CONFIGS / "test_tiny.yaml", ["optim.lr=0.1", "loss.triplet.margin=0.3"])
    each = [{"optim.lr": "0.01"}, {"optim.lr": "0.1"}, {"loss.triplet.margin": "0.3"}]
    assert reference_combos(base, each) == [{"optim.lr": "0.1"}, {"loss.triplet.margin": "0.3"}]
    product = [{"optim.lr": "0.01", "loss.triplet.margin": "0.5"}, {"optim.lr": "0.02", "loss.triplet.margin": "0.5"}]
    assert reference_combos(base, product) == product[:1]
