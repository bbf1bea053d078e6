"""``vireid.load_model`` and ``InferenceModel.embed``: every checkpoint source, every input kind,
preprocessing exactly once (= the evaluation test transform), identity and bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import vireid
from tests.inference.tiny import SIZE, deen_checkpoint, engine_checkpoint, random_image, tiny_deen
from vireid.data.image import load_resized
from vireid.data.transforms import TestTransform
from vireid.errors import CheckpointError, DatasetError, ShapeError


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return deen_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def model(ckpt):
    return vireid.load_model(ckpt)


def test_engine_checkpoint_brings_its_config(model):
    assert model.input_size == SIZE and model.config.flip and model.config.combine == "all"
    assert not model.model.training
    mid = model.model_id
    assert mid["descriptor"] == 3 * 2 * 256 and len(mid["checkpoint_sha256"]) == 64


def test_embed_equals_evaluation_transform_for_paths(model, tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(100, 50), (64, 32), (30, 70)]):
        paths.append(tmp_path / f"{i}.jpg")
        Image.fromarray(random_image(rng, h, w, pid=i)).save(paths[-1], quality=95)
    got = model.embed([str(p) for p in paths], "infrared", batch_size=2)
    tf = TestTransform(height=SIZE[0], width=SIZE[1])
    batch = torch.stack([tf(load_resized(p, *SIZE)) for p in paths])
    ref = model.model.embed(batch, "infrared", flip=True, combine="all")
    assert got.shape == (3, model.model_id["descriptor"])
    assert torch.allclose(got, ref, atol=1e-6)
    assert torch.allclose(got.norm(dim=1), torch.ones(3), atol=1e-5)


def test_every_input_kind_gives_the_same_descriptor(model, tmp_path):
    img = random_image(np.random.default_rng(1), *SIZE, pid=2)  # already at the input size: no resize
    Image.fromarray(img).save(tmp_path / "a.png")
    chw = torch.from_numpy(img).permute(2, 0, 1)
    ref = model.embed(str(tmp_path / "a.png"), "visible")
    variants = [
        tmp_path / "a.png",
        Image.fromarray(img),
        img,
        chw,
        chw[None],
        chw.float() / 255,
        [chw.float()[None] / 255],
    ]
    for v in variants:
        got = model.embed(v, "visible")
        assert got.shape == ref.shape
        assert torch.allclose(got, ref, atol=1e-5), type(v)


def test_grayscale_and_rgba_are_converted(model, tmp_path):
    rgb = random_image(np.random.default_rng(2), 80, 40)
    gray = rgb[:, :, 1]
    Image.fromarray(gray).save(tmp_path / "g.png")
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    g3 = np.repeat(gray[:, :, None], 3, axis=2)
    assert torch.allclose(model.embed(tmp_path / "g.png", "infrared"), model.embed(g3, "infrared"), atol=1e-6)
    assert torch.allclose(model.embed(gray, "infrared"), model.embed(g3, "infrared"), atol=1e-6)
    assert torch.allclose(model.embed(tmp_path / "a.png", "visible"), model.embed(rgb, "visible"), atol=1e-6)
    assert torch.allclose(model.embed(rgba, "visible"), model.embed(rgb, "visible"), atol=1e-6)


def test_modalities_use_their_own_stems(model):
    img = random_image(np.random.default_rng(3), *SIZE)
    assert not torch.allclose(model.embed(img, "visible"), model.embed(img, "infrared"))


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (torch.rand(3, 64, 32) * 2 - 0.5, ShapeError, r"\[0, 1\]"),  # looks normalised already
        (np.zeros((64, 32, 3), np.float32), ShapeError, "uint8"),
        (np.zeros((64, 32, 2), np.uint8), ShapeError, "image array"),
        ([], ShapeError, "no images"),
        (3.5, ShapeError, "float"),
    ],
)
def test_bad_inputs(model, bad, error, match):
    with pytest.raises(error, match=match):
        model.embed(bad, "visible")


def test_non_image_file_and_bad_modality(model, tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(DatasetError, match="notes.jpg"):
        model.embed(tmp_path / "notes.jpg", "visible")
    with pytest.raises(ShapeError, match="modality"):
        model.embed(np.zeros((64, 32, 3), np.uint8), "thermalish")


def test_deen_save_file_run_folder_and_overrides(tmp_path, ckpt, model):
    net = tiny_deen(0)
    net.save(tmp_path / "deen.safetensors")
    plain = vireid.load_model(tmp_path / "deen.safetensors")
    assert plain.input_size == (384, 144)  # no config: the authors' test.py size
    small = vireid.load_model(tmp_path / "deen.safetensors", img_size=SIZE)
    img = random_image(np.random.default_rng(4), *SIZE)
    assert torch.allclose(small.embed(img, "visible"), model.embed(img, "visible"), atol=1e-6)
    assert small.model_id["config_sha256"] == model.model_id["config_sha256"]
    assert small.model_id["checkpoint_sha256"] != model.model_id["checkpoint_sha256"]  # another file
    assert plain.model_id["config_sha256"] != small.model_id["config_sha256"]
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    (run / "best.safetensors").write_bytes(ckpt.read_bytes())
    from_run = vireid.load_model(tmp_path / "run")
    assert from_run.model_id["checkpoint_sha256"] == model.model_id["checkpoint_sha256"]
    bn = vireid.load_model(ckpt, combine="bn", flip=False)
    assert bn.embed(img, "visible").shape[1] == 3 * 256 == bn.descriptor_dim


def test_engine_config_combine_is_used(tmp_path):
    path = engine_checkpoint(tmp_path / "pool.safetensors", tiny_deen(1), combine="pool", flip=False)
    m = vireid.load_model(path)
    assert (m.config.combine, m.config.flip) == ("pool", False)
    assert m.embed(random_image(np.random.default_rng(0)), "visible").shape == (1, 3 * 256)


@pytest.mark.parametrize("variant", ["default", "regdb"])
def test_official_checkpoint_variant_is_inferred(tmp_path, variant):
    from tests.models.test_official import read_fixture, write_t
    from vireid.models import load_official_deen

    net, tensors, _ = read_fixture(variant)
    path = write_t(tmp_path / f"{variant}_best.t", net)
    assert vireid.load_model(path).input_size == (384, 144)  # the authors' test.py --img_h/--img_w
    m = vireid.load_model(path, img_size=(64, 32))
    assert m.model.variant == variant
    x = tensors["input.x_ir"]
    raw = (x - x.min()) / (x.max() - x.min())  # a float image in [0, 1] at the input size
    ref = load_official_deen(path, variant).embed(m.preprocess(raw), "infrared")
    assert torch.allclose(m.embed(raw, "infrared"), ref, atol=1e-6)


def test_deen_vit_engine_checkpoint(tmp_path):
    from vireid.models.deen_vit import DEENViT

    args = dict(vit=dict(embed_dim=16, depth=4, num_heads=2, patch_size=8), img_size=[32, 16], stages=[1, 1, 1, 1])
    torch.manual_seed(0)
    net = DEENViT(4, **args).eval()
    path = engine_checkpoint(tmp_path / "vit.safetensors", net, name="deen_vit", args=args, height=288, width=144)
    m = vireid.load_model(path)
    assert m.input_size == (32, 16)  # the ViT's own size wins over the data config
    feats = m.embed([random_image(np.random.default_rng(i)) for i in range(3)], "visible")
    assert feats.shape == (3, m.descriptor_dim) == (3, 3 * 2 * 16)
    with pytest.raises(ShapeError, match="32x16"):
        vireid.load_model(path, img_size=(64, 32))


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        vireid.load_model(tmp_path / "missing.safetensors")
    from vireid.utils.io import save_safetensors

    save_safetensors({"w": torch.zeros(2)}, tmp_path / "bare.safetensors")
    with pytest.raises(CheckpointError, match="not a vireid model checkpoint"):
        vireid.load_model(tmp_path / "bare.safetensors")
    (tmp_path / "junk.t").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="junk.t"):
        vireid.load_model(tmp_path / "junk.t")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        vireid.load_model(tmp_path)


def test_import_vireid_stays_light():
    code = "import sys, vireid; assert 'torch' not in sys.modules and 'load_model' in vireid.__all__"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_yaml_of_the_run_folder_is_used(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    tiny_deen(0).save(run / "checkpoints" / "best.safetensors")  # no config in the metadata
    (run / "config.yaml").write_text("data:\n  height: 96\n  width: 32\neval:\n  combine: bn\n")
    m = vireid.load_model(run)
    assert m.input_size == (96, 32) and m.config.combine == "bn"


@pytest.mark.parametrize(
    "size, batch, message",
    [
        ((8, 8), 64, "input size 8x8: DEEN takes images of at least 16x16"),
        ((100_000, 100_000), 64, "input size 100000x100000 in batches of 64: about"),
        ((2048, 2048), 1024, "lower the input size or the batch size"),
    ],
)
def test_input_sizes_the_model_cannot_take_are_refused_before_any_work(ckpt, size, batch, message):
    """Too small for the strides (it failed in the forward pass naming ``x_vis``), or a batch no
    memory holds (a MemoryError); found by the fuzzer."""
    with pytest.raises(ShapeError, match=message):
        vireid.load_model(ckpt, img_size=size, batch_size=batch)
    assert vireid.load_model(ckpt, img_size=(16, 16), batch_size=batch).input_size == (16, 16)
