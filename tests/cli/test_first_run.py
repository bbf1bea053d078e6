"""README's "First run": its commands, exactly as written and in their order, on a smaller dataset.

Each line of the section's ``bash`` block is run through :func:`vireid.cli.main.main` from an empty
folder (globs expanded as a shell would).  Only sizes are appended -- fewer, smaller people, a
tinier model, one short epoch -- so that the whole walk takes seconds; the commands, paths and
options are the README's.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
from pathlib import Path

import pytest

from vireid.cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"
SMALLER = {
    "synth": [
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
    ],
    "train": [
        "data.height=32",
        "data.width=16",
        "model.args.base_channels=4",
        "data.num_ids=2",
        "data.num_pos=2",
        "data.test_batch_size=64",
        "train.epochs=1",
        "train.steps_per_epoch=2",
        "train.threads=1",
        "train.amp=none",
        "train.channels_last=false",
        "data.cache=false",
    ],
}


def first_run_commands(text: str) -> list[str]:
    """The lines of the first ``bash`` block of the "## First run" section (continuations joined)."""
    section = text.split("## First run", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_readme_first_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    commands = first_run_commands(README.read_text())
    assert [shlex.split(c)[1] for c in commands] == [
        "synth",
        "train",
        "test",
        "visualize",
        "evaluate",
        "index",
        "search",
    ]
    monkeypatch.chdir(tmp_path)
    outputs = []
    for line in commands:
        words = shlex.split(line)
        assert words[0] == "vireid", line
        argv = []
        for w in words[1:]:
            argv += sorted(glob.glob(w)) or [w] if "*" in w else [w]
        argv += SMALLER.get(argv[0], [])
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"{line}\n{err}"
        outputs.append(out)
    run = tmp_path / "runs" / "first-run"
    test = run / "test"
    for name in ("metrics.json", "ranks.png", "tsne.png", "distances.png"):
        assert (test / name).is_file(), name
    assert (run / "metrics.json").is_file() and (run / "tsne_trial0.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((test / "features" / "infrared_to_visible").glob("gallery_trial*.safetensors"))) == 10
    tested = json.loads((test / "metrics.json").read_text())["mean"]["rank1"]
    evaluated = outputs[4]
    assert f"{100 * tested:.2f}" in evaluated  # evaluate on the saved features prints the test's Rank-1
    assert "rank" in outputs[6] and "cam1" in outputs[6]
    # the search line from another folder, its relative paths made absolute: the index stores the
    # checkpoint's path absolute, so the same ranking comes back
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    argv = [str(tmp_path / w) if (tmp_path / w).exists() else w for w in shlex.split(commands[6])[1:]]
    assert argv != shlex.split(commands[6])[1:]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[1:] == outputs[6].splitlines()[1:]
