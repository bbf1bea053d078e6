"""JSON a command reads -- a safetensors file's metadata, a dataset's ``synth.json`` -- that is
nested too deeply or of the wrong shape is one line naming the file (and key) and exit 2, through
every command that reads it; never a RecursionError traceback, never a misleading diagnosis.

The decoding itself is :func:`vireid.utils.jsonio.json_loads` (``tests/utils/test_jsonio.py``);
that every reader goes through it is ``tests/test_json_discipline.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.engine.tiny import CONFIGS
from tests.inference.tiny import deen_checkpoint, write_gallery
from vireid.cli.main import main

DEEP = "[" * 100_000 + "]" * 100_000


def with_metadata(src: Path, dst: Path, key: str, value: str) -> Path:
    """A copy of the safetensors file ``src`` at ``dst`` whose header metadata ``key`` is ``value``."""
    blob = src.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    header.setdefault("__metadata__", {})[key] = value
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    dst.write_bytes(len(text).to_bytes(8, "little") + text + blob[8 + n :])
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from vireid.evaluation.features import save_features

    t = tmp_path_factory.mktemp("json")
    write_gallery(t / "gallery", pids=(1, 2), cams=(1,))
    save_features(
        t / "feats.safetensors",
        np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32),
        [1, 1, 2, 2],
        [1, 2, 1, 2],
        paths=["a.png"] * 4,
        modality="visible",
        meta={"note": 1},
    )
    return {"tmp": t, "ckpt": deen_checkpoint(t), "feats": t / "feats.safetensors", "gallery": t / "gallery"}


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    return code, lines[0]


@pytest.mark.parametrize("key", ["meta", "paths"])
def test_deep_features_metadata_is_one_line_naming_file_and_key(key, files, tmp_path, capsys):
    bad = with_metadata(files["feats"], tmp_path / "q.safetensors", key, DEEP)
    _, line = run(["evaluate", "--query", bad, "--gallery", files["feats"], "--protocol", "sysu"], capsys)
    assert f"{bad}: metadata '{key}': JSON nested too deeply" in line, line


@pytest.mark.parametrize("key", ["config", "kwargs", "metrics"])
def test_deep_checkpoint_metadata_is_one_line_naming_file_and_key(key, files, tmp_path, capsys):
    bad = with_metadata(files["ckpt"], tmp_path / "ck.safetensors", key, DEEP)
    argv = ["extract", "--checkpoint", bad, "--input", files["gallery"], "--modality", "visible"]
    _, line = run([*argv, "--out", tmp_path / "x.safetensors", "--no-progress"], capsys)
    assert f"{bad}: metadata '{key}': JSON nested too deeply" in line, line


def test_an_index_json_with_a_key_given_twice_is_one_line(tmp_path, capsys):
    """``index.json`` with its mark given twice (the last "abc") was searched as if nothing were wrong."""
    from tests.search.test_folder import _index

    meta = _index(tmp_path / "i.index") / "index.json"
    text = meta.read_text().rstrip()
    meta.write_text(text[:-1] + ', "vireid": "abc"}')
    _, line = run(["search", "--index", meta.parent, "--query", "q.png", "--modality", "infrared"], capsys)
    assert f"{meta}: not valid JSON (key 'vireid' is given twice)" in line, line


def test_a_deep_index_feats_header_is_one_line(tmp_path, capsys):
    from tests.search.test_folder import _index

    feats = _index(tmp_path / "i.index") / "feats.safetensors"
    blob = feats.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    text = blob[8 : 8 + n].rstrip()[:-1] + b', "deep": ' + DEEP.encode() + b"}"  # the header holds a deep value
    text += b" " * (-len(text) % 8)
    feats.write_bytes(len(text).to_bytes(8, "little") + text + blob[8 + n :])
    _, line = run(["search", "--index", feats.parent, "--query", "q.png", "--modality", "infrared"], capsys)
    assert f"{feats}: not a safetensors file (its header: JSON nested too deeply" in line, line


#: synth.json contents and what the one line must say about them
SYNTH_JSONS = [
    ("deep", DEEP, "JSON nested too deeply"),
    ("invalid", "{broken", "not valid JSON"),
    ("array", "[1, 2]", "not a vireid synth.json (an array)"),
    ("string", '"x"', "not a vireid synth.json (a string)"),
    ("no-generator", '{"layout": "sysu"}', "not a vireid synth.json (an object without 'generator')"),
    ("no-params", '{"generator": "vireid.data.synth", "layout": "sysu"}', "not a vireid synth.json (no 'params'"),
    ("not-utf8", b"\xff\xfe{}", "not text (not UTF-8)"),
]

#: every command that asks whether a path is inside a dataset, ROOT being the dataset
COMMANDS = {
    "synth --force": lambda f, root: ["synth", "--layout", "sysu", "--out", root, "--force"],
    "train data.root": lambda f, root: [
        "train",
        "--config",
        CONFIGS / "test_tiny.yaml",
        f"data.root={root}",
        "--out",
        f["tmp"] / "run",
    ],
    "extract --input": lambda f, root: [
        *("extract", "--checkpoint", f["ckpt"], "--input", root / "cam1", "--modality", "visible"),
        *("--out", f["tmp"] / "x.safetensors", "--no-progress"),
    ],
    "index build --gallery": lambda f, root: [
        *("index", "build", "--checkpoint", f["ckpt"], "--gallery", root / "cam1", "--modality", "visible"),
        *("--out", f["tmp"] / "idx", "--no-progress"),
    ],
    "evaluate --out": lambda f, root: [
        *("evaluate", "--query", f["feats"], "--gallery", f["feats"], "--protocol", "sysu"),
        *("--out", root / "m.json"),
    ],
    "report": lambda f, root: ["report", _run_on(f["tmp"] / "report-run", root), "--out", f["tmp"] / "rep"],
}


def _run_on(run_dir: Path, root: Path) -> Path:
    """A finished run folder whose data root is ``root`` (report compares runs by its synth.json)."""
    from tests.report.fake import make_run

    return make_run(run_dir, overrides=["data.synth=null", f"data.root={root}"])


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("content", "said"), [c[1:] for c in SYNTH_JSONS], ids=[c[0] for c in SYNTH_JSONS])
def test_a_bad_synth_json_is_one_line_naming_it_in_every_command(command, content, said, files, tmp_path, capsys):
    root = tmp_path / "ds"
    shutil.copytree(files["gallery"], root)
    (root / "exp").mkdir()  # a SYSU-MM01 layout: its synth.json is asked for wherever the path lies in it
    argv = COMMANDS[command](files, root)
    (root / "synth.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    _, line = run(argv, capsys)
    assert f"{root / 'synth.json'}: {said}" in line, line
    assert "holds no synth.json" not in line and "SYSU-MM01 dataset" not in line


@pytest.mark.parametrize(("content", "said"), [c[1:] for c in SYNTH_JSONS[:-2]], ids=[c[0] for c in SYNTH_JSONS[:-2]])
def test_a_stray_synth_json_above_a_path_stops_nothing(content, said, files, tmp_path, capsys):
    """Another tool's ``synth.json`` in a folder that is no dataset (a home folder) above the
    input and the output: not vireid's, so neither is the folder a dataset; ``extract`` runs."""
    home = tmp_path / "home"
    shutil.copytree(files["gallery"], home / "pics")
    (home / "synth.json").write_bytes(content.encode())
    argv = ["extract", "--checkpoint", files["ckpt"], "--input", home / "pics", "--modality", "visible"]
    assert main([str(a) for a in [*argv, "--out", home / "f.safetensors", "--no-progress"]]) == 0, capsys.readouterr()
    assert (home / "f.safetensors").is_file()
