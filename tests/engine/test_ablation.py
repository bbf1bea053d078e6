import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vireid.config import load_config
from vireid.config.shipped import CONFIG_DIR as CONFIGS
from vireid.engine.ablation import combinations, markdown_table, overrides, parse_grid, run_ablation, split_values
from vireid.engine.run import TrainResult
from vireid.errors import ConfigError, VireidError


def _result(summary: dict) -> TrainResult:
    """What ``train`` returns, with a stand-in model of 10 parameters."""
    return TrainResult(summary, model=torch.nn.Linear(4, 2), dataset=None, evaluation=[])


def test_split_and_parse_grid():
    assert split_values("1,2, 3") == ["1", "2", "3"]
    assert split_values("[1,2],[3,4]") == ["[1,2]", "[3,4]"]
    grid = parse_grid(["optim.lr=0.1,0.01", "model.args.layers=[1,1,1,1],[1,1,2,1]"])
    assert grid["model.args.layers"] == ["[1,1,1,1]", "[1,1,2,1]"]
    with pytest.raises(ConfigError):
        parse_grid(["optim.lr"])
    with pytest.raises(ConfigError):
        split_values("[1,2")


def test_combinations_product_and_each():
    grid = {"a": ["1", "2"], "b": ["x", "y", "z"]}
    assert len(combinations(grid, "product")) == 6
    assert combinations(grid, "each") == [{"a": "1"}, {"a": "2"}, {"b": "x"}, {"b": "y"}, {"b": "z"}]
    with pytest.raises(ConfigError):
        combinations(grid, "random")


def test_run_ablation_aggregates_seeds(tmp_path):
    """A fake train function: checks the overrides reach the config and the table's mean/std."""
    base = load_config(CONFIGS / "test_tiny.yaml")
    seen = []

    def fake_train(cfg, run_dir, quiet=True):
        seen.append((cfg.optim.lr, cfg.train.seed))
        r1 = 0.5 + 0.1 * cfg.train.seed + (0.2 if cfg.optim.lr == 0.01 else 0.0)
        return _result({"mean": {"rank1": r1, "mAP": r1 / 2, "mINP": r1 / 4}, "train_seconds": 1.0})

    rows = run_ablation(
        base, {"optim.lr": ["0.1", "0.01"]}, tmp_path, seeds=[0, 1], train_fn=fake_train, log=lambda s: None
    )
    assert sorted(seen) == [(0.01, 0), (0.01, 1), (0.1, 0), (0.1, 1)]
    by_lr = {r["combo"]["optim.lr"]: r for r in rows}
    assert by_lr["0.01"]["rank1"][0] == pytest.approx(0.75) and by_lr["0.01"]["params"] == 10
    assert by_lr["0.01"]["rank1"][1] == pytest.approx(0.0707107, rel=1e-4)
    assert json.loads((tmp_path / "results.json").read_text())[0]["seed"] == 0
    md = (tmp_path / "ablation.md").read_text()
    assert "75.0 ± 7.1" in md and (tmp_path / "ablation.png").is_file()
    assert markdown_table(rows).count("\n") == 3


def test_linked_axis_sets_every_key(tmp_path):
    """``a+b=[x,y]`` is one factor: each value sets all its keys together."""
    grid = parse_grid(["data.height+data.width=[32,16],[48,24]"])
    assert combinations(grid, "each") == [{"data.height+data.width": "[32,16]"}, {"data.height+data.width": "[48,24]"}]
    assert overrides({"data.height+data.width": "[48,24]", "optim.lr": "0.1"}) == [
        "data.height=48",
        "data.width=24",
        "optim.lr=0.1",
    ]
    with pytest.raises(ConfigError, match="list of 2 items"):
        parse_grid(["data.height+data.width=32,[48,24]"])
    with pytest.raises(ConfigError, match="one value; an axis needs two or more.*--set"):
        parse_grid(["optim.lr=0.1"])
    base = load_config(CONFIGS / "test_tiny.yaml")
    seen = []

    def fake_train(cfg, run_dir, quiet=True):
        seen.append((cfg.data.height, cfg.data.width, run_dir.parent.name))
        return _result({"mean": {"rank1": 0.5, "mAP": 0.4, "mINP": 0.3}, "train_seconds": 1.0})

    run_ablation(base, grid, tmp_path, seeds=[0], train_fn=fake_train, log=lambda s: None)
    assert [s[:2] for s in seen] == [(32, 16), (48, 24)]
    assert seen[0][2] != seen[1][2]  # distinct run folders
    assert "| data.height+data.width |" in (tmp_path / "ablation.md").read_text()


def test_bad_override_fails_before_training(tmp_path):
    base = load_config(CONFIGS / "test_tiny.yaml")
    calls = []
    with pytest.raises(ConfigError):
        run_ablation(
            base,
            {"optim.no_such_key": ["1", "2"]},
            tmp_path,
            seeds=[0],
            train_fn=lambda *a, **k: calls.append(1),
            log=lambda s: None,
        )
    assert not calls


def test_ablate_cli_end_to_end(tmp_path, capsys):
    from tests.engine.tiny import tiny_dataset
    from vireid.cli.main import main

    root = tiny_dataset(tmp_path / "data")
    out = tmp_path / "abl"
    code = main(
        [
            "ablate",
            "--config",
            str(CONFIGS / "test_tiny.yaml"),
            "--grid",
            "loss.cpm.weight=0.0,0.8",
            "--seeds",
            "0",
            "--out",
            str(out),
            "--set",
            f"data.root={root}",
            "eval.every=0",
        ]
    )
    assert code == 0
    rows = json.loads((out / "results.json").read_text())
    assert [r["combo"]["loss.cpm.weight"] for r in rows] == ["0.0", "0.8"]
    assert all(0.0 <= r["metrics"]["rank1"] <= 1.0 and r["params"] > 0 for r in rows)
    assert (out / "runs" / "cpm_weight-0.0" / "seed0" / "metrics.json").is_file()
    assert "cpm_weight" in capsys.readouterr().out
    # the same command again is refused (one line, exit 2); --resume reuses the finished run and
    # continues the other one from its last checkpoint, to the same numbers
    argv = [
        "ablate",
        "--config",
        str(CONFIGS / "test_tiny.yaml"),
        "--grid",
        "loss.cpm.weight=0.0,0.8",
        "--seeds",
        "0",
        "--out",
        str(out),
        "--set",
        f"data.root={root}",
        "eval.every=0",
    ]
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    (out / "runs" / "cpm_weight-0.8" / "seed0" / "metrics.json").unlink()  # as if killed before its end
    kept = (out / "runs" / "cpm_weight-0.0" / "seed0" / "metrics.json").stat().st_mtime_ns
    assert main(argv + ["--resume"]) == 0
    assert (out / "runs" / "cpm_weight-0.0" / "seed0" / "metrics.json").stat().st_mtime_ns == kept
    assert (out / "runs" / "cpm_weight-0.8" / "seed0" / "metrics.json").is_file()
    again = json.loads((out / "results.json").read_text())
    assert again[0] == rows[0]  # reused as recorded
    assert [(r["combo"], r["metrics"], r["params"]) for r in again] == [
        (r["combo"], r["metrics"], r["params"]) for r in rows
    ]  # (train_seconds: the resumed part only)


def test_ablate_cli_bad_grid_exits_2(tmp_path, capsys):
    from vireid.cli.main import main

    assert (
        main(["ablate", "--config", str(CONFIGS / "test_tiny.yaml"), "--grid", "nonsense", "--out", str(tmp_path)]) == 2
    )
    assert "--grid" in capsys.readouterr().err


def test_ablate_cli_refuses_a_seed_given_twice(tmp_path, capsys):
    """``--seeds 0 0`` trained the same run twice and counted it as two samples."""
    from vireid.cli.main import main

    argv = ["ablate", "--config", str(CONFIGS / "test_tiny.yaml"), "--grid", "optim.lr=0.1,0.2"]
    assert main([*argv, "--seeds", "0", "1", "0", "--out", str(tmp_path / "abl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seeds: seed 0 given twice" in err[0], err
    assert not (tmp_path / "abl").exists()


def test_a_failure_before_any_run_leaves_no_ablation_folder(tmp_path, capsys):
    """A bad grid key or dataset, found after the folder's lock was taken, left ``OUT/.lock``
    (and the folder): now only what the ablation made goes -- a folder it did not make stays."""
    from vireid.cli.main import main

    argv = ["ablate", "--config", str(CONFIGS / "test_tiny.yaml"), "--seeds", "0", "--set", "data.synth=null"]
    new = tmp_path / "made" / "abl"
    assert main([*argv, "--grid", "optim.l\nr=0.1,0.2", "--out", str(new)]) == 2
    assert "unknown key" in capsys.readouterr().err and not (tmp_path / "made").exists()
    nodata = [f"data.root={tmp_path / 'no-data'}", "--grid", "optim.lr=0.1,0.2"]
    assert main([*argv, *nodata, "--out", str(new)]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "made").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "NOTES.txt").write_text("mine\n")
    assert main([*argv, *nodata, "--out", str(mine)]) == 2
    capsys.readouterr()
    assert sorted(p.name for p in mine.iterdir()) == ["NOTES.txt"]


def _fake_train(cfg, run_dir, quiet=True):
    """Module level, so worker processes can unpickle it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "trained").write_text("1")
    r1 = 0.5 + (0.1 if cfg.optim.lr == 0.01 else 0.0)
    return _result({"mean": {"rank1": r1, "mAP": r1, "mINP": r1}, "train_seconds": 1.0})


def test_each_mode_trains_a_repeated_config_once(tmp_path):
    """In ``each`` mode the base value of two axes is the same config: trained once, reported twice."""
    base = load_config(CONFIGS / "test_tiny.yaml", ["optim.lr=0.1", "loss.triplet.margin=0.3"])
    rows = run_ablation(
        base,
        {"optim.lr": ["0.1", "0.01"], "loss.triplet.margin": ["0.3", "0.5"]},
        tmp_path,
        seeds=[0],
        mode="each",
        train_fn=_fake_train,
        log=lambda s: None,
    )
    assert len(rows) == 4
    assert len(list(tmp_path.glob("runs/*/seed0/trained"))) == 3
    assert [r["rank1"][0] for r in rows] == pytest.approx([0.5, 0.6, 0.5, 0.5])


def test_parallel_jobs_give_the_serial_results(tmp_path):
    base = load_config(CONFIGS / "test_tiny.yaml")
    grid = {"optim.lr": ["0.1", "0.01"]}
    serial = run_ablation(base, grid, tmp_path / "a", seeds=[0, 1], train_fn=_fake_train, log=lambda s: None)
    parallel = run_ablation(base, grid, tmp_path / "b", seeds=[0, 1], train_fn=_fake_train, jobs=2, log=lambda s: None)
    assert serial == parallel
    with pytest.raises(ConfigError):
        run_ablation(base, grid, tmp_path / "c", train_fn=_fake_train, jobs=0, log=lambda s: None)


def test_std_only_with_two_seeds_or_more(tmp_path, monkeypatch):
    """ "± std" (table) and intervals (forest plot) only with two seeds or more."""
    from vireid.engine.ablation.report import RunResult, plot, summarize

    m = {"rank1": 0.5, "mAP": 0.4, "mINP": 0.3}
    one = summarize([RunResult({"a": "1"}, 0, m, 1.0, 10, True), RunResult({"a": "2"}, 0, m, 1.0, 10)])
    two = summarize(
        [RunResult({"a": "1"}, s, {k: v + s / 10 for k, v in m.items()}, 1.0, 10, True) for s in (0, 1)]
        + [RunResult({"a": "2"}, s, {k: v + s / 5 for k, v in m.items()}, 1.0, 10) for s in (0, 1)]
    )
    assert "±" not in markdown_table(one) and "50.0" in markdown_table(one)
    assert "55.0 ± 7.1" in markdown_table(two)
    figs = []
    import vireid.viz.style as style

    monkeypatch.setattr(style, "save_picture", lambda fig, out, **kw: figs.append(fig) or out)
    plot(one, tmp_path / "one.png")
    plot(two, tmp_path / "two.png")
    segments = [
        [ln for ln in f.axes[0].get_lines() if len(ln.get_xdata()) == 2 and ln.get_linestyle() == "-"] for f in figs
    ]
    assert [len(s) for s in segments] == [0, 1]  # one seed: a dot without an interval
    assert "1 seed per line" in figs[0]._suptitle.get_text() and "2 seeds per line" in figs[1]._suptitle.get_text()
    assert [t.get_text() for t in figs[0].axes[1].texts] == ["+0.0"]
    with pytest.raises(VireidError, match="no paired differences"):
        plot(summarize([RunResult({"a": "1"}, 0, m, 1.0, 10)]), tmp_path / "none.png")


def _recording_train(cfg, run_dir, quiet=True, resume=False):
    """Writes what a real run leaves (config.yaml, metrics.json) and records how it was called."""
    from vireid.config import save_config
    from vireid.config.paths import absolute_paths

    cfg = absolute_paths(cfg)  # as a run stores them
    run_dir.mkdir(parents=True, exist_ok=True)
    calls = run_dir.parents[3] / "calls.txt"  # next to the ablation folder
    with open(calls, "a") as f:
        f.write(f"{run_dir.parent.name}/{run_dir.name} resume={resume}\n")
    save_config(cfg, run_dir / "config.yaml")
    r1 = 0.5 + (0.1 if cfg.optim.lr == 0.01 else 0.0) + 0.01 * cfg.train.seed
    summary = {"mean": {"rank1": r1, "mAP": r1, "mINP": r1}, "train_seconds": 1.0}
    (run_dir / "metrics.json").write_text(json.dumps(summary))
    return _result(summary)


@pytest.mark.parametrize("jobs", [1, 2])
def test_resume_reuses_finished_runs_and_continues_the_others(tmp_path, jobs):
    base = load_config(CONFIGS / "test_tiny.yaml")
    grid = {"optim.lr": ["0.1", "0.01"]}
    out = tmp_path / "abl"
    first = run_ablation(base, grid, out, seeds=[0, 1], train_fn=_recording_train, log=lambda s: None)
    calls = tmp_path / "calls.txt"
    assert len(calls.read_text().splitlines()) == 4
    with pytest.raises(ConfigError, match="--resume"):  # refused before anything is trained
        run_ablation(base, grid, out, seeds=[0, 1], train_fn=_recording_train, log=lambda s: None)
    assert len(calls.read_text().splitlines()) == 4
    calls.unlink()
    (out / "runs" / "lr-0.01" / "seed1" / "metrics.json").unlink()  # interrupted
    logs = []
    again = run_ablation(
        base, grid, out, seeds=[0, 1], train_fn=_recording_train, jobs=jobs, resume=True, log=logs.append
    )
    assert again == first
    assert calls.read_text().splitlines() == ["lr-0.01/seed1 resume=True"]
    assert sum("reused" in line for line in logs) == 3
    # a new seed is a new run (trained from the start); a finished run with other settings is refused
    calls.unlink()
    run_ablation(base, grid, out, seeds=[0, 1, 2], train_fn=_recording_train, resume=True, log=lambda s: None)
    assert sorted(calls.read_text().splitlines()) == ["lr-0.01/seed2 resume=False", "lr-0.1/seed2 resume=False"]
    calls.unlink()  # more epochs: every run continues from its checkpoint (none is reused as it was)
    longer = load_config(CONFIGS / "test_tiny.yaml", [f"train.epochs={base.train.epochs + 1}", "train.progress=false"])
    run_ablation(longer, grid, out, seeds=[0], train_fn=_recording_train, resume=True, log=lambda s: None)
    assert sorted(calls.read_text().splitlines()) == ["lr-0.01/seed0 resume=True", "lr-0.1/seed0 resume=True"]
    calls.unlink()  # display settings change nothing: reused
    shown = load_config(CONFIGS / "test_tiny.yaml", [f"train.epochs={base.train.epochs + 1}", "train.progress=true"])
    run_ablation(shown, grid, out, seeds=[0], train_fn=_recording_train, resume=True, log=lambda s: None)
    assert not calls.exists()
    changed = load_config(CONFIGS / "test_tiny.yaml", ["loss.triplet.margin=0.7"])
    with pytest.raises(ConfigError, match="other settings"):
        run_ablation(changed, grid, out, seeds=[0], train_fn=_recording_train, resume=True, log=lambda s: None)


def _failing_train(cfg, run_dir, quiet=True):
    """Module level (workers unpickle it): the lr=0.01 seed-1 run fails, as a diverged training does."""
    if cfg.optim.lr == 0.01 and cfg.train.seed == 1:
        raise VireidError("the model's descriptors of 1 of 15 images are NaN or inf")
    return _fake_train(cfg, run_dir, quiet)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_run_is_named(tmp_path, jobs):
    """A run's error said what failed, not which run (cell and seed): with ``--jobs`` runs end in
    any order.  Its one line now starts with the run folder."""
    base = load_config(CONFIGS / "test_tiny.yaml")
    out = tmp_path / "abl"
    grid = {"optim.lr": ["0.1", "0.01"]}
    with pytest.raises(VireidError) as err:
        run_ablation(base, grid, out, seeds=[0, 1], train_fn=_failing_train, jobs=jobs, log=lambda s: None)
    run = out / "runs" / "lr-0.01" / "seed1"
    assert str(err.value) == f"{run}: the model's descriptors of 1 of 15 images are NaN or inf"


def _left_in_group(pgid: int) -> list[str]:
    """The processes of process group ``pgid`` still running (zombies aside), as ``PID NAME``."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        name, _, rest = text.rpartition(")")
        state, _, group = rest.split()[:3]
        if int(group) == pgid and state != "Z":
            left.append(f"{stat.parent.name} {name.partition('(')[2]}")
    return left


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process table from /proc")
def test_sigint_to_the_main_process_stops_the_workers_and_resume_finishes(tmp_path):
    """SIGINT to the main process only (``kill -INT PID``, ``timeout -s INT``, a supervisor; a
    terminal's Ctrl-C reaches the whole group) printed ``interrupted`` and then waited forever at
    exit for its pool workers, which trained on.  Now the workers are interrupted too: exit 130
    within seconds, one line, no process left, and ``--resume`` continues the runs."""
    from tests.engine.tiny import tiny_dataset

    root = tiny_dataset(tmp_path / "data")
    out = tmp_path / "abl"
    argv = [sys.executable, "-m", "vireid", "ablate", "--config", "test_tiny", "--grid", "optim.lr=0.01,0.02"]
    argv += ["--set", f"data.root={root}", "data.synth=null", "train.epochs=30", "eval.every=0"]
    argv += ["--seeds", "0", "--jobs", "2", "--out", str(out)]
    runs = [out / "runs" / f"lr-{lr}" / "seed0" for lr in ("0.01", "0.02")]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not all((run / "checkpoints" / "last.json").is_file() for run in runs):  # both workers train
            assert child.poll() is None, child.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)  # to the main process only
        start = time.monotonic()
        _, err = child.communicate(timeout=30)
        took = time.monotonic() - start
        deadline = time.monotonic() + 10
        while _left_in_group(child.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _left_in_group(child.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert (child.returncode, err) == (130, "interrupted\n") and took < 10
    assert not any((run / "metrics.json").exists() for run in runs)  # stopped before their end
    done = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert all((run / "metrics.json").is_file() for run in runs)
    assert [r["combo"] for r in json.loads((out / "results.json").read_text())] == [
        {"optim.lr": "0.01"},
        {"optim.lr": "0.02"},
    ]
