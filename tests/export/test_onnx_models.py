"""ONNX parity (onnxruntime vs PyTorch, max abs diff <= 1e-4 on normalised descriptors) for a tiny
DEEN (default, RegDB + ABD options), a tiny DEEN-ViT and a tiny AGW, dynamic batch, preprocessing in the graph."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from tests.export.onnx_tools import onnx_metadata, run_onnx
from tests.inference.tiny import SIZE, engine_checkpoint, random_image, tiny_deen
from vireid.export import export_onnx


@pytest.fixture(autouse=True)
def _quiet_single_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings of shape checks (constant for a fixed H x W)
        yield
    torch.set_num_threads(n)


def tiny_vit():
    from vireid.models.deen_vit import DEENViT

    torch.manual_seed(0)
    model = DEENViT(
        4, vit=dict(embed_dim=16, depth=4, num_heads=2, patch_size=8), img_size=(32, 16), stages=(1, 1, 1, 1)
    ).eval()
    with torch.no_grad():  # wake the zero-initialised MFA norms so the whole graph is exercised
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.LayerNorm)) and m.weight is not None:
                m.weight.normal_(1.0, 0.2)
    return model


def tiny_agw():
    from vireid.models import AGW

    torch.manual_seed(0)
    model = AGW(4, base_channels=4, layers=(1, 2, 2, 1)).eval()
    with torch.no_grad():  # wake the zero-initialised non-local output BNs
        for nls in model.non_local_blocks:
            for nl in nls:
                nl.out.bn.weight.normal_(1.0, 0.2)
    return model


@pytest.mark.parametrize(
    "name, modality", [("deen", "visible"), ("deen_regdb_abd", "infrared"), ("vit", "infrared"), ("agw", "infrared")]
)
def test_parity_with_pytorch(tmp_path, name, modality):
    if name == "vit":
        model, size = tiny_vit(), (32, 16)
    elif name == "agw":
        model, size = tiny_agw(), SIZE
    elif name == "deen":
        model, size = tiny_deen(0), SIZE
    else:
        model, size = tiny_deen(1, variant="regdb", abd_cam=True, abd_attention_branch=True), SIZE
    path = export_onnx(model, tmp_path / "m.onnx", modality=modality, img_size=size)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    for batch in (1, 4):
        x = torch.randn(batch, 3, *size, generator=g)
        ref = model.embed(x, modality).numpy()
        got = sess.run(None, {"images": x.numpy()})[0]
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 1e-4
    assert onnx_metadata(path)["modality"] == modality


def test_inference_model_export_with_preprocessing_in_graph(tmp_path):
    import vireid

    ckpt = engine_checkpoint(tmp_path / "c.safetensors", tiny_deen(2))
    model = vireid.load_model(ckpt)
    path = model.export_onnx(tmp_path / "p.onnx", "infrared", preprocess_in_graph=True)
    imgs = [random_image(np.random.default_rng(i), *SIZE, pid=i) for i in range(3)]
    raw = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()  # 0..255, no normalisation
    got = run_onnx(path, raw)
    assert np.abs(got - model.embed(imgs, "infrared").numpy()).max() <= 1e-4
    meta = onnx_metadata(path)
    assert meta["preprocessing_in_graph"] == "true" and meta["input_size"] == "[64, 32]"
    assert '"checkpoint_sha256"' in meta["model_id"]
