"""inference.extract: features files and gallery indexes hold the model's descriptors of the records."""

from __future__ import annotations

import numpy as np
import torch

from vireid.data.records import Record
from vireid.evaluation.features import load_features
from vireid.inference.extract import build_gallery_index, embed_records, extract_features_file


class FakeModel:
    """Descriptor = a row per image path, in order; records what it was asked."""

    ID = {"checkpoint_sha256": "abc", "config_sha256": "def", "descriptor_dim": 3}

    @property
    def model_id(self) -> dict:
        return dict(self.ID)

    def __init__(self):
        self.calls = []

    def embed(self, images, modality, progress=False):
        self.calls.append((list(images), modality, progress))
        return torch.nn.functional.normalize(torch.arange(3 * len(images), dtype=torch.float32).view(-1, 3) + 1, dim=1)


RECORDS = [Record("/x/cam4/0003/a.jpg", 3, 4, "infrared"), Record("/x/cam4/0001/b.jpg", 1, 4, "infrared")]


def test_features_file(tmp_path):
    model = FakeModel()
    feats = extract_features_file(model, RECORDS, "infrared", tmp_path / "f.safetensors", source="/x", progress=False)
    assert model.calls == [([r.path for r in RECORDS], "infrared", False)]
    fs = load_features(tmp_path / "f.safetensors")
    assert np.array_equal(fs.feats, feats.numpy()) and fs.pids.tolist() == [3, 1] and fs.camids.tolist() == [4, 4]
    assert fs.paths == [r.path for r in RECORDS] and fs.modality == "infrared"
    assert fs.meta == {"model": FakeModel.ID, "input": "/x"}
    assert torch.equal(embed_records(model, RECORDS, "infrared"), feats)


def test_gallery_index():
    index = build_gallery_index(FakeModel(), RECORDS, "infrared", progress=False)
    assert index.modality == "infrared" and index.model_id == FakeModel.ID
    assert index.entries == [{"path": r.path, "pid": r.pid, "camid": r.camid} for r in RECORDS]
    assert index.feats.shape == (2, 3)
