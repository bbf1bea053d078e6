"""Descriptors that are not finite, or all zeros, are refused with their true cause.

* weights of another kind of number (int32) or not finite (NaN): refused when the checkpoint is
  read, naming the tensors -- by ``extract``, ``export`` and ``search`` alike;
* finite weights whose activations overflow: the layer and the dtype are named, not the weights
  (float32, and float16 under autocast);
* an image whose descriptor is all zeros (a black crop the model does not respond to): named as
  the image's problem, not as "NaN or inf".
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.inference.tiny import SIZE, engine_checkpoint, tiny_deen, write_gallery
from vireid.cli.main import main
from vireid.errors import CheckpointError, ShapeError
from vireid.inference import load_model
from vireid.models.diagnose import explain_nonfinite
from vireid.models.weights import read_weights
from vireid.utils.io import save_safetensors


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def rewrite(src, dst, change):
    """A copy of the checkpoint ``src`` at ``dst`` with ``change(tensors)`` applied (its metadata kept)."""
    tensors, meta = read_weights(src)
    change(tensors)
    save_safetensors(tensors, dst, {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    t = tmp_path_factory.mktemp("diag")
    good = engine_checkpoint(t / "good.safetensors", tiny_deen(0))
    gallery = t / "gallery"
    write_gallery(gallery, pids=(1, 2), cams=(1,))
    key = "stem_visible.conv1.weight"

    def to_int(ts):
        ts[key] = ts[key].to(torch.int32)

    def to_nan(ts):
        ts[key] = ts[key].clone()
        ts[key][0, 0, 0, 0] = float("nan")

    def blow_up(ts):  # finite, but the activations leave float32's range
        ts[key] = ts[key] * 1e37

    return {
        "dir": t,
        "good": good,
        "int32": rewrite(good, t / "int32.safetensors", to_int),
        "nan": rewrite(good, t / "nan.safetensors", to_nan),
        "overflow": rewrite(good, t / "overflow.safetensors", blow_up),
        "gallery": gallery,
        "key": key,
    }


@pytest.mark.parametrize(
    "which, words",
    [
        ("int32", ["another kind of number", "stem_visible.conv1.weight (torch.int32, the model's is torch.float32)"]),
        ("nan", ["not finite numbers", "stem_visible.conv1.weight (1 NaN"]),
    ],
)
def test_bad_weights_are_refused_by_extract_export_and_search(files, which, words, tmp_path, capsys):
    ckpt = str(files[which])
    runs = [
        [
            "extract",
            "--checkpoint",
            ckpt,
            "--input",
            str(files["gallery"]),
            "--modality",
            "visible",
            "--out",
            str(tmp_path / "f.safetensors"),
        ],
        ["export", "--checkpoint", ckpt, "--modality", "visible", "--out", str(tmp_path / "m.onnx")],
    ]
    index = tmp_path / "g.index"
    assert (
        main(
            [
                "index",
                "build",
                "--checkpoint",
                str(files["good"]),
                "--gallery",
                str(files["gallery"]),
                "--modality",
                "visible",
                "--out",
                str(index),
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    query = next(files["gallery"].rglob("*.png"))
    runs.append(
        ["search", "--index", str(index), "--query", str(query), "--modality", "infrared", "--checkpoint", ckpt]
    )
    for argv in runs:
        assert main(argv) == 2, argv
        err = one_line(capsys.readouterr().err)
        for w in words:
            assert w in err, err
    assert not (tmp_path / "f.safetensors").exists() and not (tmp_path / "m.onnx").exists()


def test_overflowing_activations_are_blamed_on_the_layer_not_the_weights(files, tmp_path, capsys):
    argv = [
        "extract",
        "--checkpoint",
        str(files["overflow"]),
        "--input",
        str(files["gallery"]),
        "--modality",
        "visible",
    ]
    assert main([*argv, "--out", str(tmp_path / "f.safetensors"), "--no-progress"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "activations overflowed at layer mfa1.cnl (CNL, float32)" in err, (
        err
    )  # MFA multiplies: the first to overflow
    assert "the weights are finite" in err and "weights are not finite" not in err
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(files["overflow"]),
                "--modality",
                "visible",
                "--out",
                str(tmp_path / "m.onnx"),
            ]
        )
        == 2
    )
    assert "overflowed at layer model.mfa1.cnl (CNL, float32)" in one_line(capsys.readouterr().err)  # in the wrapper
    assert not (tmp_path / "m.onnx").exists()


def test_half_precision_overflow_names_the_dtype():
    model = tiny_deen(0)
    with torch.no_grad():
        model.stem_visible.conv1.weight.mul_(5)  # fine in float32, beyond float16's 65504 (MFA multiplies)
    x = torch.rand(1, 3, *SIZE, generator=torch.Generator().manual_seed(0))
    forward = lambda t: model.embed(t, "visible")  # noqa: E731
    assert torch.isfinite(forward(x)).all()
    half = lambda: torch.autocast("cpu", dtype=torch.float16)  # noqa: E731
    why = explain_nonfinite(model, x, forward, context=half, what="image 0")
    assert "float16" in why and "half precision" in why and "overflowed at layer" in why, why


def test_an_overflow_in_the_models_own_code_names_the_last_finite_layer():
    """A sum between layers (a pooling) overflowed: no layer's output is the first non-finite one
    but the model's own; the layer before is named (it blamed the whole model, "layer DEEN")."""

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 64)

        def forward(self, x):
            return self.lin(x).sum(dim=1, keepdim=True)  # 64 values of 1e37: beyond float32

    model = Pooled()
    with torch.no_grad():
        model.lin.weight.fill_(1e37)
        model.lin.bias.zero_()
    why = explain_nonfinite(model, torch.ones(1, 4) / 4, model, what="it")
    assert "overflowed in Pooled's own operations after layer lin" in why and "largest |x| 1e+37" in why, why


def test_a_model_run_at_another_input_size_says_so(files, tmp_path, capsys):
    """The tiny DEEN's non-local MFA sums over every position: at a larger input its activations
    leave float32's range. The refusal names --input-size and the size it was trained at."""
    argv = ["extract", "--checkpoint", str(files["overflow"]), "--input", str(files["gallery"])]
    argv += ["--modality", "visible", "--out", str(tmp_path / "f.safetensors"), "--no-progress"]
    assert main([*argv, "--input-size", "128x64"]) == 2
    err = one_line(capsys.readouterr().err)
    h, w = SIZE
    assert f"ran at input size 128x64 (--input-size), not the {h}x{w} it was trained at" in err, err
    assert main(argv) == 2  # at its own size: no word about the size
    assert "--input-size" not in one_line(capsys.readouterr().err)
    onnx = ["export", "--checkpoint", str(files["overflow"]), "--modality", "visible"]
    onnx += ["--out", str(tmp_path / "m.onnx")]
    assert main([*onnx, "--input-size", "128x64"]) == 2
    assert "(--input-size), not the" in one_line(capsys.readouterr().err)


def test_a_black_image_with_an_all_zero_descriptor_is_named(files, tmp_path):
    model = load_model(files["good"], combine="bn")
    with torch.no_grad():  # a BN neck that maps everything to zero: the descriptor is 0, 0/0 if normalised
        model.model.bottleneck.weight.zero_()
        model.model.bottleneck.bias.zero_()
    black = tmp_path / "black.png"
    Image.fromarray(np.zeros((64, 32, 3), np.uint8)).save(black)
    with pytest.raises(ShapeError) as info:
        model.embed([str(black)], "infrared")
    text = str(info.value)
    assert str(black) in text and "all zeros" in text and "uniform" in text and "NaN" not in text
    assert "--input-size" not in text  # at its own size: the image is the cause


def test_an_all_zero_descriptor_at_another_input_size_names_the_size(files, tmp_path):
    """At a size other than its training's, an all-zero descriptor is likelier the size's doing than
    the image's: the refusal names --input-size and the size it was trained at."""
    model = load_model(files["good"], combine="bn", img_size=(128, 64))
    with torch.no_grad():
        model.model.bottleneck.weight.zero_()
        model.model.bottleneck.bias.zero_()
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 32, 3), np.uint8)).save(photo)
    with pytest.raises(ShapeError) as info:
        model.embed([str(photo)], "infrared")
    text = str(info.value)
    h, w = SIZE
    assert str(photo) in text and "all zeros" in text and "uniform" not in text
    assert f"ran at input size 128x64 (--input-size), not the {h}x{w} it was trained at" in text, text
    assert text.endswith("run it at the size it was trained at, or leave the image out")


def test_an_unknown_checkpoint_format_version_is_refused(files, tmp_path):
    tensors, meta = read_weights(files["good"])
    meta["version"] = "99"
    save_safetensors(
        tensors, tmp_path / "v99.safetensors", {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
    )
    with pytest.raises(CheckpointError, match="format version 99, which this vireid does not read"):
        load_model(tmp_path / "v99.safetensors")


def test_vireid_test_names_the_layer_that_overflowed(tmp_path, capsys):
    from tests.engine.tiny import CONFIGS, tiny_dataset
    from vireid.config import build, load_config
    from vireid.engine.run import checkpoint_metadata
    from vireid.models.weights import save_weights

    cfg = load_config(CONFIGS / "test_tiny.yaml", [f"data.root={tiny_dataset(tmp_path / 'data')}"])
    model = build.build_model(cfg.model, 5)
    with torch.no_grad():
        for stem in (model.stem_visible, model.stem_infrared):
            stem.conv1.weight.mul_(1e37)  # finite weights, overflowing activations
    save_weights(model, tmp_path / "big.safetensors", checkpoint_metadata(model, cfg))
    assert main(["test", "--checkpoint", str(tmp_path / "big.safetensors"), "--out", str(tmp_path / "t")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "are NaN or inf" in err and "activations overflowed at layer" in err and "the weights are finite" in err
    assert "weights are not finite" not in err and not (tmp_path / "t" / "metrics.json").exists()
