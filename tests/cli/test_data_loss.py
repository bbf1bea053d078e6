"""Nothing a user owns is overwritten or deleted: the seven data-loss cases, end to end.

1. ``vireid train`` with a config that generates synthetic data (``data.synth``) pointed at a
   dataset made with other settings (``data.root=MY_DATASET``) must not replace it; and
   ``data.synth=null`` trains on it as it is.
2. Two ``vireid train`` runs into the same ``--out``: the second is refused, naming the first.
3. ``--resume`` of a run that is still going is refused.
4.-6. ``extract`` / ``export`` / ``visualize tsne`` with ``--out`` equal to an input are refused.
7. ``synth --force`` never deletes a folder it did not write.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.engine.tiny import CONFIGS, tiny_dataset
from tests.inference.tiny import deen_checkpoint, write_gallery
from vireid.cli.main import main

TINY = str(CONFIGS / "test_tiny.yaml")
SYNTH = [
    "--num-ids",
    "8",
    "--num-test-ids",
    "3",
    "--images-per-id-per-cam",
    "1",
    "--min-height",
    "40",
    "--max-height",
    "48",
]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_1_train_never_replaces_a_dataset_made_with_other_settings(tmp_path, capsys):
    mine = tmp_path / "MY_DATASET"
    assert main(["synth", "--layout", "sysu", "--out", str(mine), "--seed", "1", *SYNTH]) == 0
    before = snapshot(mine)
    capsys.readouterr()
    assert main(["train", "--config", TINY, f"data.root={mine}", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "other settings" in err and "seed 1 (wanted 0)" in err and "data.synth=null" in err
    assert snapshot(mine) == before
    # data.synth=null: train on it as it is (no generation, nothing replaced)
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                f"data.root={mine}",
                "data.synth=null",
                "--out",
                str(tmp_path / "run"),
                "--quiet",
                "train.epochs=1",
                "optim.lr=0.01",
            ]
        )
        == 0
    ), capsys.readouterr().err
    assert snapshot(mine) == before and (tmp_path / "run" / "metrics.json").is_file()


def _wait_for(path: Path, child: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not path.is_file():
        if child.poll() is not None:
            raise AssertionError(f"the first run ended early: {child.stderr.read()}")
        if time.monotonic() > end:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.1)


@pytest.fixture()
def running(tmp_path):
    """A ``vireid train`` in another process, busy in its first (very long) epoch."""
    root = tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vireid",
            "train",
            "--config",
            TINY,
            f"data.root={root}",
            "train.steps_per_epoch=100000",
            "eval.every=0",
            "--out",
            str(run),
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(run / "config.yaml", child)
        yield root, run, child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)


def _quick(root):
    return [f"data.root={root}", "train.steps_per_epoch=1", "train.epochs=1", "--quiet"]


def test_2_a_second_train_into_a_running_run_folder_is_refused(running, capsys):
    root, run, child = running
    config_before = (run / "config.yaml").read_bytes()
    assert main(["train", "--config", TINY, "--out", str(run), *_quick(root)]) == 2
    assert f"in use by PID {child.pid} on " in one_line(capsys.readouterr().err)
    assert (run / "config.yaml").read_bytes() == config_before and not (run / "metrics.json").exists()
    assert child.poll() is None  # the first run goes on


def test_3_resume_of_a_running_run_is_refused(running, capsys):
    root, run, child = running
    config_before = (run / "config.yaml").read_bytes()
    assert main(["train", "--config", TINY, "--out", str(run), "--resume", *_quick(root)]) == 2
    assert f"in use by PID {child.pid}" in one_line(capsys.readouterr().err)
    assert (run / "config.yaml").read_bytes() == config_before and not (run / "metrics.json").exists()
    assert child.poll() is None


def test_3b_the_lock_of_a_killed_run_is_taken_over(running, capsys):
    root, run, child = running
    child.send_signal(signal.SIGKILL)  # dies holding the lock: the kernel releases it, the file stays
    child.wait(timeout=60)
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                f"data.root={root}",
                "train.steps_per_epoch=1",
                "train.epochs=1",
                "--out",
                str(run),
                "--resume",
            ]
        )
        == 0
    ), capsys.readouterr().err
    assert f"took over the lock left by PID {child.pid}" in capsys.readouterr().out


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loss")
    ckpt = deen_checkpoint(tmp)
    write_gallery(tmp / "imgs", pids=(1, 2, 3), cams=(1,), per=2)
    return tmp, ckpt


def test_4_extract_never_writes_over_its_checkpoint(model_files, capsys):
    tmp, ckpt = model_files
    before = ckpt.read_bytes()
    assert (
        main(
            [
                "extract",
                "--checkpoint",
                str(ckpt),
                "--input",
                str(tmp / "imgs"),
                "--modality",
                "visible",
                "--out",
                str(ckpt),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "also the checkpoint" in one_line(capsys.readouterr().err)
    assert ckpt.read_bytes() == before


def test_5_export_never_writes_over_its_checkpoint(model_files, capsys):
    pytest.importorskip("onnx")
    tmp, ckpt = model_files
    before = ckpt.read_bytes()
    assert main(["export", "--checkpoint", str(ckpt), "--modality", "visible", "--out", str(ckpt)]) == 2
    assert "also the checkpoint" in one_line(capsys.readouterr().err)
    assert ckpt.read_bytes() == before


def test_6_visualize_never_writes_over_its_features_file(model_files, capsys):
    pytest.importorskip("matplotlib")
    from vireid.evaluation.features import save_features

    tmp, _ = model_files
    feats = tmp / "feats.safetensors"
    rng = np.random.default_rng(0)
    save_features(
        feats,
        rng.normal(size=(12, 8)).astype(np.float32),
        np.repeat(np.arange(6), 2),
        np.ones(12, np.int64),
        modality="visible",
    )
    before = feats.read_bytes()
    for picture in ("tsne", "distances"):
        assert main(["visualize", picture, "--features", str(feats), "--out", str(feats)]) == 2
        assert "also the features file" in one_line(capsys.readouterr().err)
    assert feats.read_bytes() == before


def test_7_synth_force_never_deletes_a_folder_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    assert main(["synth", "--layout", "sysu", "--out", str(mine), "--force", *SYNTH]) == 2
    err = one_line(capsys.readouterr().err)
    assert "not a synthetic dataset vireid wrote" in err
    assert (mine / "holiday.jpg").read_bytes() == b"precious" and os.listdir(mine) == ["holiday.jpg"]
    # a dataset synth wrote is replaced with --force
    ours = tmp_path / "ours"
    assert main(["synth", "--layout", "sysu", "--out", str(ours), *SYNTH]) == 0
    assert main(["synth", "--layout", "sysu", "--out", str(ours), "--seed", "3", *SYNTH]) == 2
    assert "--force" in one_line(capsys.readouterr().err)
    assert main(["synth", "--layout", "sysu", "--out", str(ours), "--seed", "3", "--force", *SYNTH]) == 0
