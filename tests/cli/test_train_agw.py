"""End-to-end AGW training on the tiny synthetic dataset (configs/test_tiny_agw.yaml): a run, exact resume."""

import json

import pytest
import torch

from tests.engine.tiny import CONFIGS, read_metrics, tiny_dataset
from vireid.cli.main import main
from vireid.config import load_config
from vireid.engine.checkpoint import CheckpointManager
from vireid.engine.hooks import StopAtStep
from vireid.engine.run import train
from vireid.inference import load_model
from vireid.models import AGW

TINY = str(CONFIGS / "test_tiny_agw.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train_agw")
    root = tiny_dataset(tmp / "data")
    run = tmp / "run"
    assert (
        main(["train", "--config", TINY, "--out", str(run), "--quiet", f"data.root={root}", "train.checkpoint_every=1"])
        == 0
    )
    return tmp, root, run


def test_agw_trains_with_ce_and_wrt_and_evaluates(trained):
    _, _, run = trained
    recs = read_metrics(run / "metrics.jsonl")
    steps = [r for r in recs if "loss/total" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert {"loss/id", "loss/tri"} <= set(steps[0]) and not {"loss/cpm", "loss/ort"} & set(steps[0])
    assert all(r["loss/total"] == pytest.approx(r["loss/id"] + r["loss/tri"], rel=1e-5) for r in steps)
    assert any("eval/rank1" in r for r in recs)
    m = json.loads((run / "metrics.json").read_text())
    assert len(m["directions"]["infrared_to_visible"]["trials"]) == 10
    model = load_model(run)  # the run's config: AGW's descriptor (BN feature, no flip)
    assert (model.config.architecture, model.config.flip, model.config.combine) == ("AGW", False, "bn")
    assert isinstance(model.model, AGW) and model.model.config["non_local"] and model.model.config["gem"]


def test_killed_agw_run_resumes_to_the_same_weights(trained):
    tmp, root, run = trained
    cfg = load_config(TINY, [f"data.root={root}", "train.checkpoint_every=1"])
    crashed = tmp / "crashed"
    with pytest.raises(StopAtStep.StopTraining):
        train(cfg, crashed, quiet=True, stop_at_step=3)  # dies mid-epoch 2, after the checkpoint of step 3
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                "--out",
                str(crashed),
                "--quiet",
                "--resume",
                f"data.root={root}",
                "train.checkpoint_every=1",
            ]
        )
        == 0
    )
    ref = CheckpointManager(run / "checkpoints").load_last()
    got = CheckpointManager(crashed / "checkpoints").load_last()
    assert ref[0].keys() == got[0].keys() and any(k.startswith("nl2.") for k in ref[0])
    for k in ref[0]:
        assert torch.equal(ref[0][k], got[0][k]), k
    steps = [r["step"] for r in read_metrics(crashed / "metrics.jsonl") if "loss/total" in r]
    assert steps == [1, 2, 3, 4]
