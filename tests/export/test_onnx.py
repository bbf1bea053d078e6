"""ONNX export parity on a small stand-in model (DEEN/DEEN-ViT parity: tests/export/test_onnx_models.py)."""

import numpy as np
import pytest
import torch

from tests.export.onnx_tools import onnx_metadata, run_onnx
from tests.models.test_base import Tiny
from vireid.export import export_onnx


@pytest.mark.parametrize("modality", ["visible", "infrared"])
def test_onnx_matches_pytorch_with_dynamic_batch(tmp_path, modality):
    torch.manual_seed(0)
    model = Tiny().eval()
    path = export_onnx(model, tmp_path / "m.onnx", modality=modality, img_size=(8, 4))
    for b in (1, 5):
        x = torch.randn(b, 3, 8, 4)
        ref = model.embed(x, modality).numpy()
        got = run_onnx(path, x)
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 1e-4
    meta = onnx_metadata(path)
    assert meta["modality"] == modality and meta["preprocessing_in_graph"] == "false"


def test_preprocessing_in_graph(tmp_path):
    torch.manual_seed(0)
    model = Tiny().eval()
    path = export_onnx(model, tmp_path / "p.onnx", modality="visible", img_size=(8, 4), preprocess_in_graph=True)
    raw = torch.randint(0, 256, (3, 3, 8, 4)).float()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    ref = model.embed((raw / 255 - mean) / std, "visible").numpy()
    assert np.abs(run_onnx(path, raw) - ref).max() <= 1e-4
    assert onnx_metadata(path)["preprocessing_in_graph"] == "true"
