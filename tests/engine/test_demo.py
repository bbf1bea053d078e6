"""engine.demo: the comparison table, the synthetic-data requirement (the full run: tests/cli/test_demo.py)."""

from __future__ import annotations

import pytest

from tests.engine.tiny import CONFIGS
from vireid.config import load_config
from vireid.engine.demo import comparison_table, run_demo
from vireid.errors import ConfigError, VireidError


def test_comparison_table_in_percent():
    m = {"rank1": 0.5, "rank5": 0.75, "rank10": 0.8, "rank20": 0.9, "mAP": 0.123456, "mINP": 0.05}
    lines = comparison_table({"untrained": m, "trained DEEN": dict(m, rank1=1.0)}).splitlines()
    assert lines[0].split() == ["model", "Rank-1", "Rank-5", "Rank-10", "Rank-20", "mAP", "mINP"]
    assert lines[1].split() == ["untrained", "50.00", "75.00", "80.00", "90.00", "12.35", "5.00"]
    assert lines[2].startswith("trained DEEN") and "100.00" in lines[2]
    assert len({len(line) for line in lines}) == 1  # aligned columns


def test_demo_needs_synthetic_data(tmp_path):
    cfg = load_config(CONFIGS / "deen_sysu.yaml")
    with pytest.raises(ConfigError, match="data.synth"):
        run_demo(cfg, tmp_path / "demo")
    assert not (tmp_path / "demo").exists()


def test_demo_replaces_only_its_own_run_folder(tmp_path):
    """The demo starts afresh, but empties only a folder a demo wrote (demo.json); never another, never
    one holding its dataset."""
    from vireid.engine.demo import clear_demo_folder, write_marker
    from vireid.utils.io import atomic_write_json
    from vireid.utils.outputs import CHECKPOINT_POINTER, RUN_METRICS

    cfg = load_config(CONFIGS / "test_tiny.yaml", [f"data.root={tmp_path / 'runs' / 'mine' / 'data'}"])
    mine = tmp_path / "runs" / "mine"
    mine.mkdir(parents=True)
    (mine / "thesis.tex").write_text("keep")
    with pytest.raises(VireidError, match="holds the data.root"):
        run_demo(cfg, mine)
    cfg = load_config(CONFIGS / "test_tiny.yaml", [f"data.root={tmp_path / 'data'}"])
    with pytest.raises(VireidError, match="not a demo run folder"):
        run_demo(cfg, mine)
    assert (mine / "thesis.tex").read_text() == "keep" and sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
    old = tmp_path / "demo"
    atomic_write_json(old / "checkpoints" / "last.json", {"dir": "step-00000001", "step": 1}, kind=CHECKPOINT_POINTER)
    atomic_write_json(old / "metrics.json", {"mean": {}}, kind=RUN_METRICS)
    write_marker(old, complete=True)  # an earlier demo: demo.json marks the folder, its files carry vireid's mark
    (old / "NOTES.txt").write_text("mine")  # then the user added a file
    with pytest.raises(VireidError, match="NOTES.txt, which is not among the files vireid wrote"):
        run_demo(cfg, old)
    assert (old / "NOTES.txt").read_text() == "mine" and (old / "checkpoints" / "last.json").is_file()
    (old / "NOTES.txt").unlink()
    (old / "metrics.json").write_text("my own numbers")  # and replaced one of the demo's files: not the demo's now
    with pytest.raises(VireidError, match="metrics.json, which is not among the files vireid wrote"):
        run_demo(cfg, old)
    assert (old / "metrics.json").read_text() == "my own numbers"
    (old / "metrics.json").unlink()
    clear_demo_folder(old)
    assert list(old.iterdir()) == []


def test_demo_replaces_its_synthetic_dataset_when_asked(tmp_path, monkeypatch):
    """data.synth.force=true with other settings replaces the demo's synthetic dataset -- and names
    the user's files in it, untouched -- as train does; it was refused as 'data.root is also the
    data.root' (data.root was an input of every write, the generator's too; found by the fuzzer).
    A refused dataset leaves no demo folder (its .lock made the next demo's --out unusable)."""
    import json

    import vireid.engine.demo as demo
    from tests.engine.tiny import tiny_dataset

    root = tiny_dataset(tmp_path / "data")
    monkeypatch.setattr(demo, "_run_locked", lambda *a, **k: "trained")
    cfg = load_config(CONFIGS / "test_tiny.yaml", [f"data.root={root}", "data.synth.force=true", "data.synth.seed=7"])
    (tmp_path / "data" / "NOTES.txt").write_text("mine")
    with pytest.raises(VireidError, match="holds NOTES.txt, which is not among the files vireid wrote"):
        run_demo(cfg, tmp_path / "demo", workers=1, log=lambda m: None)
    assert (tmp_path / "data" / "NOTES.txt").read_text() == "mine" and not (tmp_path / "demo").exists()
    (tmp_path / "data" / "NOTES.txt").unlink()
    assert run_demo(cfg, tmp_path / "demo", workers=1, log=lambda m: None) == "trained"
    assert json.loads((tmp_path / "data" / "synth.json").read_text())["params"]["seed"] == 7
    with pytest.raises(VireidError, match="holds the data.root"):  # --out holding the dataset: still refused
        run_demo(cfg, tmp_path, workers=1, log=lambda m: None)
