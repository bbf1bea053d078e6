"""Every CLI command answers bad input with one line on stderr and exit code 2.

For each command of ``vireid --help``, at least one input of each kind: a missing file, a
corrupt file, the wrong kind of file, and a bad value.  Where a command reads no file of some
kind, the nearest thing it does read stands in (named in the case id).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.engine.tiny import CONFIGS, tiny_dataset
from tests.inference.tiny import deen_checkpoint, write_gallery
from vireid.cli.main import COMMANDS, main

TINY = str(CONFIGS / "test_tiny.yaml")
KINDS = ("missing", "corrupt", "wrong-kind", "bad-value")


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    """Files for the cases, by name."""
    from vireid.evaluation.features import save_features
    from vireid.models.pretrained import get_weights

    t = tmp_path_factory.mktemp("bad")
    files = {"tmp": t, "nope": t / "nope", "data": Path(tiny_dataset(t / "data"))}
    files["ckpt"] = deen_checkpoint(t)
    (t / "corrupt.safetensors").write_bytes(os.urandom(512))
    files["corrupt"] = t / "corrupt.safetensors"
    (t / "truncated.safetensors").write_bytes(files["ckpt"].read_bytes()[:300])
    files["truncated"] = t / "truncated.safetensors"
    Image.fromarray(np.zeros((20, 10, 3), np.uint8)).save(t / "image.png")
    files["png"] = t / "image.png"
    (t / "bad.yaml").write_text("train:\n  epochs: [1, 2\n")
    files["yaml"] = t / "bad.yaml"
    (t / "notes.txt").write_text("hello\n")
    files["txt"] = t / "notes.txt"
    save_features(
        t / "feats.safetensors",
        np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32),
        [1, 1, 2, 2, 3, 3],
        [1, 2, 1, 2, 1, 2],
        paths=[str(t / "image.png")] * 6,
        modality="visible",
    )
    files["feats"] = t / "feats.safetensors"
    write_gallery(t / "gallery", pids=(1, 2), cams=(1,))
    (t / "gallery" / "cam1" / "0001" / "broken.jpg").write_bytes(b"not a jpeg")
    files["broken_gallery"] = t / "gallery"
    (t / "index").mkdir()
    (t / "index" / "index.json").write_text('{"format": "vireid-index", ')
    files["bad_index"] = t / "index"
    (t / "synth_bad_marker").mkdir()
    (t / "synth_bad_marker" / "synth.json").write_text("{broken")
    (t / "synth_bad_marker" / "keep.txt").write_text("mine")
    files["bad_marker"] = t / "synth_bad_marker"
    hub = t / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / get_weights("resnet50_imagenet_v1").filename).write_bytes(b"corrupt download")
    (hub / get_weights("vit_base_patch16_224_in21k").filename).mkdir()
    files["torch_home"] = t / "torch_home"
    (t / "bad_run").mkdir()
    (t / "bad_run" / "metrics.json").write_text('{"protocol": "sysu", "directions": ')
    files["bad_run"] = t / "bad_run"
    return files


def _cases():
    """(command, kind, args builder, expected text in the message)."""
    d = "data.root={data}"
    return [
        ("synth", "missing", "synth --layout sysu --out {txt}/ds", "is a file, not a folder"),  # its parent is a file
        ("synth", "corrupt", "synth --layout sysu --out {bad_marker} --force", "synth.json: not valid JSON"),
        ("synth", "wrong-kind", "synth --layout sysu --out {txt}", "exists and is not a folder"),
        ("synth", "bad-value", "synth --layout sysu --out {tmp}/s --num-ids 1", "--num-ids: must be >= 4"),
        ("demo", "missing", "demo --config {nope}.yaml --out {tmp}/demo", "config file not found"),
        ("demo", "corrupt", "demo --config {yaml} --out {tmp}/demo", "bad.yaml"),
        ("demo", "wrong-kind", "demo --config {png} --out {tmp}/demo", "image.png"),
        ("demo", "bad-value", "demo --out {tmp}/demo train.epochs=0", "train.epochs: must be >= 1"),
        ("convert", "missing", "convert --official {nope}.t --out {tmp}/c.safetensors", "file not found"),
        ("convert", "corrupt", "convert --official {corrupt} --out {tmp}/c.safetensors", "not a readable"),
        ("convert", "wrong-kind", "convert --official {ckpt} --out {tmp}/c.safetensors", "not an authors' DEEN/AGW"),
        ("convert", "bad-value", "convert --official {ckpt} --variant v3 --out {tmp}/c.safetensors", "invalid choice"),
        ("train", "missing", f"train --config {TINY} data.root={{nope}} data.synth=null --out {{tmp}}/r", "not found"),
        ("train", "corrupt", "train --config {yaml} --out {tmp}/r", "bad.yaml"),
        ("train", "wrong-kind", "train --config {ckpt} --out {tmp}/r", "not a readable YAML file"),
        ("train", "bad-value", f"train --config {TINY} optim.lr=-1 --out {{tmp}}/r", "optim.lr: must be > 0"),
        ("test", "missing", f"test --config {TINY} --checkpoint {{nope}}.safetensors {d}", "checkpoint not found"),
        ("test", "corrupt", f"test --config {TINY} --checkpoint {{truncated}} {d}", "not a readable safetensors"),
        ("test", "wrong-kind", f"test --config {TINY} --checkpoint {{feats}} {d}", "not a vireid model checkpoint"),
        ("test", "bad-value", f"test --config {TINY} --checkpoint {{ckpt}} {d} eval.trials=0", "eval.trials"),
        ("test", "missing-run", "test --run {nope}", "not found"),
        ("evaluate", "missing", "evaluate --query {nope} --gallery {feats} --protocol sysu", "file not found"),
        ("evaluate", "corrupt", "evaluate --query {corrupt} --gallery {feats} --protocol sysu", "not a readable"),
        ("evaluate", "wrong-kind", "evaluate --query {ckpt} --gallery {feats} --protocol sysu", "not a features file"),
        (
            "evaluate",
            "wrong-kind-out",
            "evaluate --query {feats} --gallery {feats} --protocol sysu --out {txt}/m.json",
            "notes.txt",
        ),
        (
            "evaluate",
            "bad-value",
            "evaluate --query {feats} --gallery {feats} --protocol sysu --max-rank 0",
            "--max-rank",
        ),
        (
            "extract",
            "missing",
            "extract --checkpoint {ckpt} --input {nope} --modality ir --out {tmp}/x.safetensors",
            "no such folder",
        ),
        (
            "extract",
            "corrupt",
            "extract --checkpoint {ckpt} --input {broken_gallery} --modality visible "
            "--out {tmp}/x.safetensors --no-progress",
            "broken.jpg: cannot decode image",
        ),
        (
            "extract",
            "wrong-kind",
            "extract --checkpoint {ckpt} --input {txt} --modality ir --out {tmp}/x.safetensors",
            "expected a folder of images or a CSV manifest",
        ),
        (
            "extract",
            "bad-value",
            "extract --checkpoint {ckpt} --input {broken_gallery} --modality ultraviolet --out {tmp}/x.safetensors",
            "accepted, in any case",
        ),
        (
            "index",
            "missing",
            "index build --checkpoint {nope} --gallery {broken_gallery} --modality visible --out {tmp}/i1",
            "checkpoint not found",
        ),
        (
            "index",
            "corrupt",
            "index build --checkpoint {truncated} --gallery {broken_gallery} --modality visible --out {tmp}/i2",
            "not a readable safetensors",
        ),
        (
            "index",
            "wrong-kind",
            "index build --checkpoint {ckpt} --gallery {broken_gallery} --modality visible --out {txt}",
            "not a folder",
        ),
        (
            "index",
            "bad-value",
            "index build --checkpoint {ckpt} --gallery {broken_gallery} --modality visible "
            "--out {tmp}/i3 --input-size 0x5",
            "sizes must be positive",
        ),
        ("search", "missing", "search --index {nope} --query {png} --modality ir", "not found"),
        ("search", "corrupt", "search --index {bad_index} --query {png} --modality ir", "index.json: not valid JSON"),
        ("search", "wrong-kind", "search --index {ckpt} --query {png} --modality ir", "not a vireid index"),
        ("search", "bad-value", "search --index {bad_index} --query {png} --modality ir --topk 0", "--topk"),
        (
            "export",
            "missing",
            "export --checkpoint {nope}.safetensors --modality visible --out {tmp}/m.onnx",
            "checkpoint not found",
        ),
        ("export", "corrupt", "export --checkpoint {corrupt} --modality visible --out {tmp}/m.onnx", "not a readable"),
        ("export", "wrong-kind", "export --checkpoint {png} --modality visible --out {tmp}/m.onnx", "not a readable"),
        ("export", "bad-value", "export --checkpoint {ckpt} --modality visible --out {tmp}/m.onnx --opset 3", "opset"),
        ("visualize", "missing", "visualize ranks --query {nope} --gallery {feats} --out {tmp}/r.png", "not found"),
        ("visualize", "corrupt", "visualize tsne --features {corrupt} --out {tmp}/t.png", "not a readable"),
        ("visualize", "wrong-kind", "visualize distances --features {ckpt} --out {tmp}/d.png", "not a features file"),
        (
            "visualize",
            "bad-value",
            "visualize ranks --query {feats} --gallery {feats} --out {tmp}/r.png --topk 0",
            "topk",
        ),
        (
            "visualize",
            "wrong-kind-image",
            "visualize attention --checkpoint {ckpt} --image {txt} --modality ir --out {tmp}/a.png",
            "cannot decode image",
        ),
        ("ablate", "missing", "ablate --config {nope}.yaml --grid optim.lr=0.1,0.2 --out {tmp}/a", "not found"),
        ("ablate", "corrupt", "ablate --config {yaml} --grid optim.lr=0.1,0.2 --out {tmp}/a", "bad.yaml"),
        ("ablate", "wrong-kind", "ablate --config {png} --grid optim.lr=0.1,0.2 --out {tmp}/a", "image.png"),
        ("ablate", "bad-value", f"ablate --config {TINY} --grid optim.lr=0.1,-1 --out {{tmp}}/a", "optim.lr"),
        (
            "ablate",
            "ambiguous",
            f"ablate --config {TINY} --grid optim.lr=0.1,0.2 --mode each train.epochs=1 --out {{tmp}}/a",
            "--set",
        ),
        ("report", "missing", "report {nope} --out {tmp}/rep", "not found"),
        ("report", "corrupt", "report {bad_run} --out {tmp}/rep", "metrics.json: not valid JSON"),
        ("report", "wrong-kind", "report {ckpt} --out {tmp}/rep", "expected a vireid metrics.json"),
        ("report", "wrong-kind-out", "report {bad_run}/metrics.json --out {bad_run}/metrics.json", "also the run"),
        ("report", "bad-value", "report {bad_run} --out {tmp}/rep --format jpg", "invalid choice"),
        ("configs", "missing", "configs {nope}.yaml", "config file not found"),
        ("configs", "corrupt", "configs {yaml}", "bad.yaml"),
        ("configs", "wrong-kind", "configs {png}", "image.png"),
        ("configs", "bad-value", "configs test_tiny data.erasing_p=2", "data.erasing_p"),
        ("weights", "missing", "weights download no_such_weights", "unknown pretrained weights"),
        ("weights", "corrupt", "weights download resnet50_imagenet_v1", "does not match the SHA-256"),
        ("weights", "wrong-kind", "weights download vit_base_patch16_224_in21k", "is not a file"),
        ("weights", "bad-value", "weights fetch resnet50_imagenet_v1", "invalid choice"),
    ]


CASES = _cases()


def test_every_command_has_every_kind_of_bad_input():
    covered = {(cmd, kind.split("-image")[0].split("-run")[0].split("-out")[0]) for cmd, kind, _, _ in CASES}
    missing = [(c, k) for c in COMMANDS for k in KINDS if (c, k) not in covered]
    assert not missing


@pytest.mark.parametrize("command, kind, template, expected", CASES, ids=[f"{c}-{k}" for c, k, _, _ in CASES])
def test_one_line_and_exit_2(f, command, kind, template, expected, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(f["torch_home"]))
    argv = [part.format(**f) for part in template.split()]
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("vireid ") and "Traceback" not in err
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize("command", ["extract", "index build"])
def test_a_note_on_one_input_is_not_printed_above_the_refusal_of_another(command, f, tmp_path, capsys):
    """A manifest listing both modalities gets a note (the other's rows skipped); the checkpoint,
    read next, is missing: the refusal is the one line.  With the checkpoint there the note is
    printed."""
    images = write_gallery(tmp_path / "images", pids=(1, 2), cams=(1, 3))
    modality = {"cam1": "visible", "cam3": "infrared"}
    rows = [f"{p},{int(p.parent.name)},{p.parent.parent.name[3:]},{modality[p.parent.parent.name]}" for p in images]
    (tmp_path / "mixed.csv").write_text("path,pid,camid,modality\n" + "\n".join(rows) + "\n")
    folder = ["--input"] if command == "extract" else ["--gallery"]
    out = ["--out", str(tmp_path / ("x.safetensors" if command == "extract" else "idx"))]

    def line(checkpoint):
        argv = [*command.split(), "--checkpoint", str(checkpoint), *folder, str(tmp_path / "mixed.csv")]
        return main([*argv, "--modality", "visible", *out, "--no-progress"]), capsys.readouterr().err

    rc, err = line(f["nope"])
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "not found" in err and "skipped" not in err
    rc, err = line(f["ckpt"])
    assert rc == 0 and "skipped 2 row(s) of the other modality" in err
