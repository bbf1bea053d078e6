"""`vireid demo` with the tiny config: untrained vs trained table and a complete run folder."""

import json

from tests.engine.tiny import tiny_dataset
from vireid.cli.main import main


def test_demo_tiny(tmp_path, capsys):
    root = tiny_dataset(tmp_path / "data")
    out = tmp_path / "demo"
    rc = main(["demo", "--config", "test_tiny", "--out", str(out), "--workers", "1", f"data.root={root}"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "using cached synthetic dataset" in text
    assert "untrained" in text and "trained DEEN" in text
    assert "ranking.png, cmc.png, curves.png)" in text
    for name in (
        "config.yaml",
        "metrics.json",
        "metrics_untrained.json",
        "metrics.jsonl",
        "ranking.png",
        "cmc.png",
        "curves.png",
        "checkpoints/best.safetensors",
        "checkpoints/last.json",
    ):
        assert (out / name).is_file(), name
    assert (
        json.loads((out / "metrics_untrained.json").read_text())["directions"]["infrared_to_visible"]["num_trials"]
        == 10
    )
    trained = json.loads((out / "metrics.json").read_text())  # plain data only
    assert sorted(trained) == [
        "checkpoint",
        "directions",
        "mean",
        "paper_columns",
        "protocol",
        "train_seconds",
        "vireid",  # its mark: {"kind": "run-metrics", "version": ...}
    ]
    listed = json.loads((out / "demo.json").read_text())  # every file the demo wrote, for the next demo
    assert listed["complete"] and "checkpoints/best.safetensors" in listed["files"] and "ranking.png" in listed["files"]
