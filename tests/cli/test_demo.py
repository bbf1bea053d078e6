"""`vireid demo` with the tiny config: untrained vs trained table and a complete run folder."""

import json

from vireid.cli.main import main


def test_demo_tiny(tmp_path, capsys, monkeypatch):
    """As `make demo` in a fresh clone: relative paths, the dataset generated on the first run."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "demo"
    rc = main(["demo", "--config", "test_tiny", "--out", "demo", "--workers", "1", "data.root=data/synth"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "generated synthetic dataset" in text
    assert "untrained" in text and "trained DEEN" in text
    assert "ranking.png, cmc.png, curves.png)" in text
    lines = text.splitlines()  # the run's final tables, a line each (not one line of escaped breaks)
    assert "\\n" not in text and "infrared to visible:" in lines, text
    assert any(line.startswith("trial 0 ") for line in lines), text
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
    # again, its dataset replaced by one of other settings (data.synth.force): an existing input is
    # regenerated, the earlier demo's folder replaced
    args = ["demo", "--config", "test_tiny", "--out", "demo", "--workers", "1", "data.root=data/synth"]
    assert main([*args, "data.synth.seed=1", "data.synth.force=true"]) == 0
    assert "generated synthetic dataset" in capsys.readouterr().out
    assert json.loads((tmp_path / "data" / "synth" / "synth.json").read_text())["params"]["seed"] == 1
