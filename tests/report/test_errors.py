"""``vireid report`` on bad input: one line on stderr naming the file or option, exit code 2, and
no report folder -- for each class of bad input (a run folder that is not a run, a metrics file
that is not one or misses a score, a broken config, runs that are not comparable, an output of
the wrong kind, bad options)."""

from __future__ import annotations

import json
import os

import pytest

from tests.report.fake import make_run
from vireid.cli.main import main


def _json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _mean(path, key, value):
    _json(path, lambda m: m["directions"]["infrared_to_visible"]["mean"].__setitem__(key, value))


def _setup(kind, t):
    """``(argv after 'report', expected text)`` for one class of bad input, its files under ``t``."""
    a = make_run(t / "a", log=False)
    m = a / "metrics.json"
    out = ["--out", str(t / "rep"), "--format", "none"]
    if kind == "missing-run":
        return [str(t / "nope"), *out], "nope: not found; give a run folder or a metrics JSON file"
    if kind == "folder-not-a-run":
        (t / "empty").mkdir()
        return [str(t / "empty"), *out], "empty: holds no metrics.json"
    if kind == "test-folder-hint":
        (a / "test").mkdir()
        m.rename(a / "test" / "metrics.json")
        return [str(a), *out], f"holds no metrics.json; its test results are in {a / 'test'}"
    if kind == "not-json":
        m.write_bytes(os.urandom(300))
        return [str(a), *out], "metrics.json: not text (not UTF-8); expected a vireid metrics.json"
    if kind == "deep-json":
        m.write_text("[" * 50_000 + "]" * 50_000)
        return [str(a), *out], "metrics.json: JSON nested too deeply (more than 64 levels); expected a vireid"
    if kind == "other-json":
        m.write_text('{"rank1": 0.5}')
        return [str(a), *out], "metrics.json: not a vireid metrics.json (it needs 'protocol' and 'directions')"
    if kind == "missing-score":
        _json(m, lambda d: d["directions"]["infrared_to_visible"]["mean"].pop("mINP"))
        return [str(a), *out], "direction 'infrared_to_visible' has no mINP in its 'mean'"
    if kind == "nan-score":
        _mean(m, "mAP", float("nan"))
        return [str(a), *out], "mean mAP is NaN; expected a fraction in [0, 1]"
    if kind == "percent-score":
        _mean(m, "rank1", 45.6)
        return [str(a), *out], "mean rank1 is 45.6; expected a fraction in [0, 1]"
    if kind == "bad-cmc":
        _json(m, lambda d: d["directions"]["infrared_to_visible"].__setitem__("cmc", ["a", 2]))
        return [str(a), *out], "'cmc' is not a list of fractions in [0, 1]"
    if kind == "no-column":
        _json(m, lambda d: d.__setitem__("directions", {"sideways": d["directions"]["infrared_to_visible"]}))
        return [
            str(a),
            *out,
        ], "fills no column of a sysu table (its directions: sideways; expected infrared_to_visible)"
    if kind == "broken-config":
        (a / "config.yaml").write_text("data: [1,\n")
        return [str(a), *out], "config.yaml:2: not a readable YAML file"
    if kind == "config-not-a-mapping":
        _json(m, lambda d: d.__setitem__("config", "deen"))
        return [str(a), *out], "its 'config' is not a mapping of settings"
    if kind == "no-config":
        (a / "config.yaml").unlink()
        return [str(a), *out], "no config.yaml next to it or one folder up, and it records no config"
    if kind == "not-comparable":
        b = make_run(t / "b", overrides=["eval.flip=false", "train.seed=1"], log=False)
        return [str(a), str(b), *out], "is not comparable with"
    if kind == "same-run-twice":
        return [str(a), str(m), *out], "given twice"
    if kind == "out-is-a-file":
        (t / "rep").write_text("mine")
        return [str(a), *out], "rep: exists and is not a folder; --out names a vireid report folder"
    if kind == "out-under-a-file":
        (t / "file").write_text("mine")
        return [str(a), "--out", str(t / "file" / "rep")], "file is a file, not a folder"
    if kind == "out-is-the-run":
        return [str(a), "--out", str(a)], "--out is also the run folder"
    if kind == "users-file-in-out":
        (t / "rep").mkdir()
        (t / "rep" / "report.md").write_text("my notes")
        return [str(a), *out], "report.md: exists and was not written by vireid; pass --overwrite"
    if kind == "bad-format":
        return [str(a), "--out", str(t / "rep"), "--format", "none", "png"], "--format: none (no pictures) goes alone"
    if kind == "bad-group-by":
        return [str(a), *out, "--group-by", "model.colour"], "--group-by: 'model.colour' is not seed, trial"
    if kind == "bad-labels":
        return [str(a), *out, "--labels", "x", "y"], "--labels: 2 given for 1 rows"
    if kind == "empty-label":
        return [str(a), *out, "--labels", " "], "--labels: a row name is empty"
    raise AssertionError(kind)


KINDS = [
    "missing-run",
    "folder-not-a-run",
    "test-folder-hint",
    "not-json",
    "deep-json",
    "other-json",
    "missing-score",
    "nan-score",
    "percent-score",
    "bad-cmc",
    "no-column",
    "broken-config",
    "config-not-a-mapping",
    "no-config",
    "not-comparable",
    "same-run-twice",
    "out-is-a-file",
    "out-under-a-file",
    "out-is-the-run",
    "users-file-in-out",
    "bad-format",
    "bad-group-by",
    "bad-labels",
    "empty-label",
]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_one_line(kind, tmp_path, capsys):
    argv, expected = _setup(kind, tmp_path)
    existed = (tmp_path / "rep").exists()
    before = sorted(p.name for p in (tmp_path / "rep").iterdir()) if (tmp_path / "rep").is_dir() else None
    assert main(["report", *argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vireid report: error: "), captured.err
    assert expected in err[0] and "Traceback" not in captured.err
    if not existed:
        assert not (tmp_path / "rep").exists()  # refused before anything was written
    elif before is not None:
        assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == before


def test_visualize_cmc_reads_metrics_json_by_the_same_rules(tmp_path, capsys):
    a = make_run(tmp_path / "a", log=False)
    _mean(a / "metrics.json", "rank1", -0.1)
    assert main(["visualize", "cmc", "--metrics", str(a / "metrics.json"), "--out", str(tmp_path / "c.svg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mean rank1 is -0.1; expected a fraction in [0, 1]" in err[0]


@pytest.mark.parametrize("name", ["metrics.json", "config.yaml", "metrics.jsonl"])
@pytest.mark.parametrize("thing", ["pipe", "device", "folder"])
def test_a_run_s_file_that_is_not_a_file_is_named_as_what_it_is(tmp_path, capsys, name, thing):
    """A run's metrics.json, config.yaml or log that is a pipe, a device or a folder was reported
    as missing ("holds no metrics.json (did the run finish?)")."""
    run = make_run(tmp_path / "a", log=False)
    target = run / name
    target.unlink(missing_ok=True)
    {"pipe": lambda: os.mkfifo(target), "device": lambda: target.symlink_to("/dev/zero"), "folder": target.mkdir}[
        thing
    ]()
    assert main(["report", str(run), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    word = {"pipe": "is a named pipe", "device": "is a device", "folder": "is a folder"}[thing]
    assert len(err) == 1 and f"{target}: {word}" in err[0], err
    assert not (tmp_path / "rep").exists()
