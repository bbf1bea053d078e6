"""``vireid report`` on run folders made by hand: rows, the numbers, the tables and the refusals."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from tests.report.fake import make_run
from tests.report.latex_check import check_table
from vireid.cli.main import main
from vireid.errors import VireidError
from vireid.report import build_report

GOLDEN = Path(__file__).with_name("golden_table.tex")


def _report(tmp_path, runs, **kw):
    kw.setdefault("formats", ())  # pictures cost time: the tests that look at them ask for them
    return build_report([str(r) for r in runs], tmp_path / "report", log=lambda s: None, **kw)


def _results(tmp_path) -> dict:
    return json.loads((tmp_path / "report" / "results.json").read_text())


def test_one_run_the_numbers_are_its_metrics_json_exactly(tmp_path):
    run = make_run(tmp_path / "runs" / "demo", base=0.4567891)
    result = _report(tmp_path, [run], formats=("png", "pdf", "svg"))
    metrics = json.loads((run / "metrics.json").read_text())["directions"]["infrared_to_visible"]
    got = _results(tmp_path)
    cell = got["rows"][0]["settings"]["all-single"]
    assert got["made_by"] == "vireid report" and got["complete"] and cell["n"] == 1
    for m in ("rank1", "rank10", "rank20", "mAP", "mINP"):
        assert cell["mean"][m] == metrics["mean"][m]  # exactly, not approximately
        assert cell["values"][m] == [metrics["mean"][m]] and cell["std"][m] == 0.0
    md = (tmp_path / "report" / "report.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("| demo |"))
    assert f"| {100 * metrics['mean']['rank1']:.2f} |" in line and "±" not in line
    assert "All-search: R1 | R10 | R20 | mAP | mINP" in md
    for name in ("cmc", "curves"):
        for fmt in ("png", "pdf", "svg"):
            assert (tmp_path / "report" / f"{name}.{fmt}").stat().st_size > 1000
    assert not (tmp_path / "report" / "comparison.png").exists()  # one row: nothing to compare
    assert "![cmc](cmc.png) ([cmc.pdf](cmc.pdf), [cmc.svg](cmc.svg))" in md
    assert check_table((tmp_path / "report" / "table.tex").read_text()) == []
    assert [ln.label for ln in result.table.lines] == ["demo"]


def test_seeds_form_one_row_with_mean_std_and_count(tmp_path):
    runs = [make_run(tmp_path / f"seed{s}", base=0.3 + 0.1 * s, overrides=[f"train.seed={s}"]) for s in range(3)]
    other = make_run(tmp_path / "nocpm", base=0.2, overrides=["loss.cpm.weight=0"])
    _report(tmp_path, [*runs, other])
    rows = _results(tmp_path)["rows"]
    assert [r["label"] for r in rows] == ["seed*", "nocpm"]
    assert rows[0]["differs"] == {"loss.cpm.weight": 2.4} and rows[1]["differs"] == {"loss.cpm.weight": 0.0}
    cell = rows[0]["settings"]["all-single"]
    values = [
        json.loads((r / "metrics.json").read_text())["directions"]["infrared_to_visible"]["mean"]["mAP"] for r in runs
    ]
    assert cell["n"] == 3 and cell["values"]["mAP"] == values
    assert cell["mean"]["mAP"] == statistics.fmean(values) and cell["std"]["mAP"] == statistics.stdev(values)
    md = (tmp_path / "report" / "report.md").read_text()
    row = next(x for x in md.splitlines() if x.startswith("| seed\\* | 3 |"))
    assert f"{100 * statistics.fmean(values):.2f} ± {100 * statistics.stdev(values):.2f}" in row
    assert "n runs (seeds)" in md


def test_regdb_trials_pool_into_one_row_with_both_directions(tmp_path):
    runs = [
        make_run(tmp_path / f"regdb_{t}", dataset="regdb", base=0.5 + 0.02 * t, overrides=[f"data.trial={t}"])
        for t in (1, 2, 3, 10)
    ]
    result = _report(tmp_path, runs, targets="paper")
    got = _results(tmp_path)
    assert [s["key"] for s in got["settings"]] == ["visible_to_infrared", "infrared_to_visible"]
    row = next(r for r in got["rows"] if r["kind"] == "runs")
    assert row["label"] == "regdb_*" and {c["n"] for c in row["settings"].values()} == {4}
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Visible → Thermal†: R1" in md and "Thermal → Visible‡: R1" in md and "RegDB trials" in md
    assert "† Visible → Thermal: visible to infrared, as published (the paper's VIS->IR column" in md
    assert [s["direction"] for s in got["settings"]] == ["visible_to_infrared_paper", "infrared_to_visible_paper"]
    paper = [json.loads((r / "metrics.json").read_text())["directions"]["visible_to_infrared_paper"] for r in runs]
    assert row["settings"]["visible_to_infrared"]["values"]["rank1"] == [p["mean"]["rank1"] for p in paper]
    published = [ln.label for ln in result.table.lines if ln.published]
    assert published == ["DEEN (published)", "AGW (published)"]
    assert "| DEEN (published) | – | **91.1** | – | – | **85.1** | – | **89.5** |" in md
    assert "| AGW (published) | – | 70.05 | – | – | 66.37 | **50.19** | – |" in md
    assert "github.com/mangye16/Cross-Modal-Re-ID-baseline" in md and "synthetic data" in md
    assert check_table((tmp_path / "report" / "table.tex").read_text()) == []


def test_llcm_vis_to_ir_is_the_published_orientation(tmp_path):
    run = make_run(tmp_path / "llcm", dataset="llcm")
    _report(tmp_path, [run])
    got = _results(tmp_path)
    by = {s["key"]: s for s in got["settings"]}
    assert by["visible_to_infrared"]["direction"] == "visible_to_infrared_paper"
    assert by["visible_to_infrared"]["note"].startswith("visible to infrared, as published")
    metrics = json.loads((run / "metrics.json").read_text())["directions"]["visible_to_infrared_paper"]["mean"]
    assert got["rows"][0]["settings"]["visible_to_infrared"]["mean"] == {
        m: metrics[m] for m in ("rank1", "rank10", "rank20", "mAP", "mINP")
    }
    assert "VIS → IR†: R1" in (tmp_path / "report" / "report.md").read_text()


def test_sysu_all_and_indoor_runs_of_one_method_share_a_row(tmp_path):
    a = make_run(tmp_path / "sysu_all", base=0.7)
    b = make_run(tmp_path / "sysu_indoor", base=0.8, overrides=["data.mode=indoor"])
    c = make_run(tmp_path / "sysu_all_s1", base=0.72, overrides=["train.seed=1"])
    result = _report(tmp_path, [a, b, c])
    (row,) = result.rows
    assert list(row.cells) == ["all-single", "indoor-single"]
    assert (row.cells["all-single"].n, row.cells["indoor-single"].n) == (2, 1)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| 2 / 1 |" in md and "All-search: R1" in md and "Indoor-search: R1" in md


def test_golden_latex_table(tmp_path):
    runs = [make_run(tmp_path / f"deen_s{s}", base=0.6 + 0.05 * s, overrides=[f"train.seed={s}"]) for s in (0, 1)]
    runs.append(make_run(tmp_path / "agw_s0", base=0.5, overrides=["model.name=agw", "model.args={}"]))
    runs.append(make_run(tmp_path / "indoor", base=0.7, overrides=["data.mode=indoor"]))
    _report(tmp_path, runs, targets="paper", labels=["DEEN (ours)", "AGW_ours & co"])
    tex = (tmp_path / "report" / "table.tex").read_text()
    assert check_table(tex) == []
    assert r"AGW\_ours \& co" in tex
    mark, body = tex.split("\n", 1)
    assert mark.startswith("% written by vireid ") and mark.endswith(": report-table")
    assert body == GOLDEN.read_text()  # reviewed by eye, and by check_table


def test_columns_ours_and_runs_that_fill_a_column_otherwise(tmp_path):
    """RegDB as the paper printed it (the default) or from the protocol's own directions; a run of an
    earlier vireid (no paper columns) does not share a column with one that has them."""
    runs = [make_run(tmp_path / f"regdb_{t}", dataset="regdb", overrides=[f"data.trial={t}"]) for t in (1, 2)]
    _report(tmp_path, runs, columns="ours")
    got = _results(tmp_path)
    assert [s["direction"] for s in got["settings"]] == ["visible_to_infrared", "infrared_to_visible"]
    assert "each image through its own modality's stem" in got["settings"][0]["note"]
    old = json.loads((runs[1] / "metrics.json").read_text())
    del old["paper_columns"]
    for d in ("visible_to_infrared_paper", "infrared_to_visible_paper"):
        del old["directions"][d]
    (runs[1] / "metrics.json").write_text(json.dumps(old))
    with pytest.raises(VireidError, match="Visible → Thermal column is computed as 'visible_to_infrared' there"):
        _report(tmp_path, runs)
    assert len(_report(tmp_path, runs, columns="ours").rows) == 1


@pytest.mark.parametrize(
    "overrides, rerank, expected",
    [
        (["eval.flip=false"], False, "eval.flip is False there but True"),
        (["eval.combine=pool"], False, "eval.combine is 'pool' there but 'all'"),
        (["data.synth.difficulty=0.9"], False, "data.synth.difficulty is 0.9 there but 0.3"),
        ([], True, "rerank is True there but False"),
    ],
)
def test_runs_scored_otherwise_are_refused_naming_the_setting(tmp_path, overrides, rerank, expected):
    a = make_run(tmp_path / "a")
    b = make_run(tmp_path / "b", overrides=overrides, rerank=rerank)
    with pytest.raises(VireidError, match="is not comparable with") as exc:
        _report(tmp_path, [a, b])
    assert expected in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "report").exists()


def test_other_dataset_and_trial_counts_are_refused(tmp_path):
    a = make_run(tmp_path / "a")
    with pytest.raises(VireidError, match="data.dataset is 'regdb' there but 'sysu'"):
        _report(tmp_path, [a, make_run(tmp_path / "r", dataset="regdb")])
    with pytest.raises(VireidError, match="trials per direction"):
        _report(tmp_path, [a, make_run(tmp_path / "t", trials=3)])


def test_the_same_cell_twice_and_bad_arguments(tmp_path):
    a = make_run(tmp_path / "a")
    b = make_run(tmp_path / "b")  # same settings, same seed: the same cell
    with pytest.raises(VireidError, match="are the same cell"):
        _report(tmp_path, [a, b])
    with pytest.raises(VireidError, match="given twice"):
        _report(tmp_path, [a, tmp_path / "a" / "metrics.json"])
    with pytest.raises(VireidError, match="--labels: 2 given for 1 rows"):
        _report(tmp_path, [a], labels=["x", "y"])
    with pytest.raises(VireidError, match="--group-by"):
        _report(tmp_path, [a], group_by=["colour"])
    with pytest.raises(VireidError, match="--format"):
        _report(tmp_path, [a], formats=("jpg",))
    with pytest.raises(VireidError, match="holds no metrics.json"):
        _report(tmp_path, [tmp_path])


def test_group_by_a_config_key_pools_it(tmp_path):
    runs = [
        make_run(tmp_path / f"lr{i}", base=0.3 + 0.1 * i, overrides=[f"optim.lr={lr}"])
        for i, lr in enumerate((0.1, 0.05))
    ]
    assert len(_report(tmp_path, runs).rows) == 2
    result = build_report(runs, tmp_path / "pooled", group_by=["optim.lr"], formats=(), log=lambda s: None)
    assert len(result.rows) == 1 and result.rows[0].cells["all-single"].n == 2


def test_a_test_folder_and_a_metrics_file_are_runs(tmp_path):
    run = make_run(tmp_path / "run", base=0.5)
    test = tmp_path / "run" / "test"
    test.mkdir()
    (test / "metrics.json").write_text((run / "metrics.json").read_text())
    untrained = tmp_path / "run" / "metrics_untrained.json"
    untrained.write_text(json.dumps({**json.loads((run / "metrics.json").read_text())}))
    with pytest.raises(VireidError, match="are the same cell"):
        _report(tmp_path, [test, untrained])
    result = _report(tmp_path, [test, untrained], group_by=["none"], labels=["test", "untrained"])
    assert [r.runs[0].config_source for r in result.rows] == [str(run / "config.yaml")] * 2
    assert [r.runs[0].log_file for r in result.rows] == [run / "metrics.jsonl"] * 2


def test_report_folder_policy(tmp_path):
    a = make_run(tmp_path / "a")
    with pytest.raises(VireidError, match="--out is also the run folder"):
        build_report([a], a, formats=("png",), log=lambda s: None)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "table.tex").write_text("my own table")
    with pytest.raises(VireidError, match="table.tex: exists and was not written by vireid; pass --overwrite"):
        build_report([a], mine, formats=("png",), log=lambda s: None)
    assert (mine / "table.tex").read_text() == "my own table"
    _report(tmp_path, [a], formats=("png",))
    (tmp_path / "report" / "notes.txt").write_text("mine")
    _report(tmp_path, [a], formats=("svg",))  # an earlier report is replaced, its PNGs with it
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [
        "cmc.svg",
        "curves.svg",
        "notes.txt",
        "report.md",
        "results.json",
        "table.tex",
    ]  # atomic writes leave no temporary file; a file the report did not write stays


def test_runs_without_a_log_get_no_curves(tmp_path):
    a = make_run(tmp_path / "a", log=False)
    result = _report(tmp_path, [a], formats=("svg",))
    assert "curves.png" not in result.written and "no run has a metrics.jsonl" in result.skipped[0]
    assert "Not drawn: curves: no run has a metrics.jsonl" in (tmp_path / "report" / "report.md").read_text()


def test_cli_one_line_errors_and_success(tmp_path, capsys):
    a = make_run(tmp_path / "a")
    b = make_run(tmp_path / "b", dataset="regdb")
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vireid report: error:") and "not comparable" in err[0]
    c = make_run(tmp_path / "c", overrides=["loss.cpm.weight=0"])
    assert main(["report", str(a), str(c), "--out", str(tmp_path / "r"), "--format", "svg"]) == 0
    out = capsys.readouterr().out
    assert "| a | 1 |" in out and "| c | 1 |" in out
    assert sorted(p.name for p in (tmp_path / "r").glob("*.svg")) == ["cmc.svg", "comparison.svg", "curves.svg"]


def test_a_metrics_file_without_a_score_is_refused_naming_it(tmp_path):
    a = make_run(tmp_path / "a")
    m = json.loads((a / "metrics.json").read_text())
    del m["directions"]["infrared_to_visible"]["mean"]["mINP"]
    (a / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(VireidError, match=r"metrics.json: direction 'infrared_to_visible' has no mINP"):
        _report(tmp_path, [a])


def test_data_made_by_vireid_synth_is_compared_by_its_synth_json(tmp_path):
    def folder(name, difficulty):
        root = tmp_path / name
        root.mkdir()
        (root / "synth.json").write_text(
            json.dumps(
                {
                    "generator": "vireid.data.synth",
                    "layout": "sysu",
                    "made_by": "vireid synth",
                    "params": {"difficulty": difficulty},
                }
            )
        )
        return root

    a = make_run(tmp_path / "a", overrides=["data.synth=null", f"data.root={folder('d1', 0.1)}"])
    b = make_run(tmp_path / "b", overrides=["data.synth=null", f"data.root={folder('d2', 0.5)}", "train.seed=1"])
    c = make_run(tmp_path / "c", overrides=["data.synth=null", f"data.root={tmp_path / 'gone'}", "train.seed=2"])
    with pytest.raises(VireidError, match=r"synthetic data \(synth.json\) is \{'difficulty': 0.5\} there"):
        _report(tmp_path, [a, b])
    result = _report(tmp_path, [a, c])  # c's data folder is not at hand: its config is compared
    assert result.table.title == "SYSU-MM01 (synthetic)" and result.rows[0].cells["all-single"].n == 2


def test_a_run_named_with_control_characters_is_shown_escaped(tmp_path, capfd):
    """A run folder named ``$H\\x85OME`` (a C1 control character): the tables and the pictures'
    labels show it escaped, and nothing prints it raw (matplotlib warned of a missing glyph with
    the character in it -- found by the fuzzer)."""
    run = make_run(tmp_path / "$H\x85OM\x1bE")
    assert main(["report", str(run), "--out", str(tmp_path / "r"), "--format", "png"]) == 0
    out, err = capfd.readouterr()
    for text in (out, err, (tmp_path / "r" / "report.md").read_text()):
        assert "\x85" not in text and "\x1b" not in text
    assert "$H\\\\x85OM\\\\x1bE" in out  # escaped, then a Markdown backslash (renders as \\x85)


def test_labels_with_control_characters_are_shown_escaped(tmp_path, capfd):
    """``--labels $'a\\x1b[31m|b\\n'``: printed, written and drawn escaped, the table row intact."""
    run = make_run(tmp_path / "run")
    label = "a\x1b[31m|b\n"
    out_dir = tmp_path / "r"
    assert main(["report", str(run), "--out", str(out_dir), "--labels", label, "--format", "none"]) == 0
    out, err = capfd.readouterr()
    for text in (out, err, (out_dir / "report.md").read_text(), (out_dir / "table.tex").read_text()):
        assert "\x1b" not in text
    rows = [ln for ln in (out_dir / "report.md").read_text().splitlines() if ln.startswith("| a")]
    assert len(rows) == 1 and rows[0].endswith("|") and "\\|b" in rows[0]  # the row whole, its | escaped
