"""The method table: every row is a valid config on the shared budget; the table and the ordering note."""

from __future__ import annotations

import json

import pytest

from benchmarks import method_table as mt
from vireid.config import load_config


def _config(name: str, seed: int = 0):
    cmd = mt.command(name, seed)
    config = cmd[cmd.index("--config") + 1]
    overrides = [c for c in cmd[cmd.index("--quiet") + 1 :]]
    return load_config(config, overrides)


@pytest.mark.parametrize("name", list(mt.ROWS))
def test_every_row_resolves_to_the_shared_budget(name):
    cfg = _config(name, seed=2)
    assert (cfg.data.root, cfg.data.height, cfg.data.width) == ("data/synth-sysu-methods", 64, 32)
    assert cfg.data.synth == {
        "num_ids": 240,
        "num_test_ids": 32,
        "images_per_id_per_cam": 8,
        "seed": 0,
        "difficulty": 0.1,
    }
    assert (cfg.data.num_ids, cfg.data.num_pos) == (12, 2)
    assert (cfg.train.epochs, cfg.train.amp, cfg.train.seed, cfg.train.threads) == (4, "none", 2, 1)
    assert (cfg.eval.every, cfg.eval.trials) == (0, 10)


def test_rows_are_the_methods_they_name():
    base, agw, deen, abd, vit = (_config(n) for n in mt.ROWS)
    assert (base.model.name, base.model.args["non_local"], base.model.args["gem"], base.loss.triplet) == (
        "agw",
        False,
        False,
        "batch_hard",
    )
    assert (agw.model.name, agw.model.args["non_local"], agw.model.args["gem"], agw.loss.triplet) == (
        "agw",
        True,
        True,
        "weighted",
    )
    assert deen.model.name == "deen" and not deen.model.args.get("abd_cam")
    assert abd.model.args["abd_cam"] and abd.loss.svdo_of_weight > 0 and abd.loss.svdo_ow_weight > 0
    assert vit.model.name == "deen_vit" and str(vit.model.pretrained) == str(mt.PRETRAIN)


def _fake_runs(tmp_path, monkeypatch, rank1: dict[str, list[float]]):
    monkeypatch.setattr(mt, "RUNS", tmp_path)
    for name, values in rank1.items():
        for seed, r in enumerate(values):
            d = tmp_path / f"{mt.slug(name)}_s{seed}"
            d.mkdir()
            mean = {"rank1": r, "mAP": r - 0.05, "mINP": r - 0.1}
            (d / "metrics.json").write_text(json.dumps({"mean": mean, "train_seconds": 60.0 * (seed + 1)}))


def test_table_mean_std_and_ordering(tmp_path, monkeypatch):
    _fake_runs(
        tmp_path,
        monkeypatch,
        {"base": [0.30, 0.32, 0.34], "AGW": [0.40, 0.42, 0.44], "DEEN": [0.50, 0.46, 0.48], "DEEN-ViT": [0.6]},
    )
    text, means = mt.table([0, 1, 2])
    assert "| base | 32.0 +- 2.0 | 27.0 +- 2.0 | 22.0 +- 2.0 | 3 | 2.0 |" in text
    assert "| DEEN + ABD | - | - | - | 0 | - |" in text
    assert "| DEEN-ViT | 60.0 | 55.0 | 50.0 | 1 | 1.0 |" in text
    assert set(means) == {"base", "AGW", "DEEN"}  # only rows with every seed
    assert means["DEEN"] == pytest.approx(48.0)
    assert "base < AGW < DEEN holds" in mt.ordering_note(means)
    assert "does not hold" in mt.ordering_note({"base": 50.0, "AGW": 40.0, "DEEN": 60.0})
    assert "cannot be checked" in mt.ordering_note({"base": 50.0})
