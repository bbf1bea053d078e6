"""Exact resume for every model variant: a run killed mid-epoch and resumed ends bit for bit where the
uninterrupted run ends (weights, optimizer state), through the real training wiring (`engine.run.train`)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.engine.tiny import CONFIGS, tiny_dataset
from vireid.config import load_config
from vireid.engine.checkpoint import CheckpointManager
from vireid.engine.hooks import StopAtStep
from vireid.engine.run import train

VIT = {
    "vit": {"embed_dim": 16, "depth": 4, "num_heads": 2, "patch_size": 8},
    "img_size": [32, 16],
    "stages": [1, 1, 1, 1],
    "mfa_pool": [1, 1, 1, 1],
}


def vit(expansion: str, **extra) -> dict:
    return {"model": {**VIT, "expansion": expansion, **extra}}


VARIANTS = {
    "deen": [],
    "deen_regdb": ["model.args.variant=regdb"],
    "deen_abd": [
        "model.args.abd_cam=true",
        "model.args.abd_attention_branch=true",
        "loss.svdo_of.weight=1e-6",
        "loss.svdo_ow.weight=1e-3",
        "optim.lr=0.01",
    ],  # 4 steps at 0.1 leave BN stats far off
    "deen_abd_cam_layer2": [
        "model.args.abd_cam=true",
        "model.args.abd_cam_position=layer2",
        "loss.svdo_of.form=paper",
        "loss.svdo_of.weight=1e-6",
        "optim.lr=0.01",
    ],
    "vit_none": vit("none"),
    "vit_dee": vit("dee"),
    "vit_dee1d": vit("dee1d"),
    "vit_tmhee": vit("tmhee"),
    "vit_cmatm": vit("cmatm"),
    "vit_ssdec": {**vit("ssdec"), "overrides": ["loss.infonce_weight=0.1"]},
    "agw": {
        "name": "agw",
        "model": {"base_channels": 4, "layers": [1, 1, 1, 1]},
        "overrides": ["loss.triplet=weighted"],
    },
    "agw_base": {
        "name": "agw",
        "model": {"base_channels": 4, "layers": [1, 1, 1, 1], "non_local": False, "gem": False},
    },
    "vit_svdo": {
        **vit("dee", svdo_of_stages=[1], svdo_ow_blocks=[0]),
        "overrides": ["loss.svdo_of.weight=1e-6", "loss.svdo_ow.weight=1e-3"],
    },
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("resume") / "data")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_killed_run_resumes_bitwise(variant, root, tmp_path):
    spec = VARIANTS[variant]
    overrides = spec if isinstance(spec, list) else spec.get("overrides", [])
    cfg = load_config(
        CONFIGS / "test_tiny.yaml", [f"data.root={root}", "train.checkpoint_every=1", "eval.every=0", *overrides]
    )
    if isinstance(spec, dict):  # another model family: its own constructor arguments, not DEEN's
        cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, name=spec.get("name", "deen_vit"), args=spec["model"])
        )
    train(cfg, tmp_path / "full", quiet=True)
    with pytest.raises(StopAtStep.StopTraining):
        train(cfg, tmp_path / "crashed", quiet=True, stop_at_step=3)  # mid-epoch 2
    train(cfg, tmp_path / "crashed", quiet=True, resume=True)
    ref = CheckpointManager(tmp_path / "full" / "checkpoints").load_last()
    got = CheckpointManager(tmp_path / "crashed" / "checkpoints").load_last()
    assert ref[0].keys() == got[0].keys()
    for k in ref[0]:
        assert torch.equal(ref[0][k], got[0][k]), k
    for k, v in ref[2]["optimizer"]["state"].items():
        for name, t in v.items():
            assert torch.equal(t, got[2]["optimizer"]["state"][k][name]), (k, name)
    assert ref[2]["step"] == got[2]["step"] == 4
