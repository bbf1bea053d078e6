"""Features files: round trip, atomic write, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vireid.errors import CheckpointError, ShapeError
from vireid.evaluation import load_features, save_features
from vireid.utils.io import save_safetensors


def test_round_trip(tmp_path):
    feats = torch.randn(5, 8)
    path = tmp_path / "q.safetensors"
    save_features(
        path,
        feats,
        [1, 2, 3, 4, 5],
        np.array([3, 3, 6, 6, 3]),
        paths=[f"img{i}.jpg" for i in range(5)],
        modality="infrared",
        meta={"checkpoint": "abc", "epoch": 3},
    )
    fs = load_features(path)
    np.testing.assert_array_equal(fs.feats, feats.numpy())
    np.testing.assert_array_equal(fs.pids, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(fs.camids, [3, 3, 6, 6, 3])
    assert fs.pids.dtype == np.int64 and len(fs) == 5
    assert fs.paths == [f"img{i}.jpg" for i in range(5)]
    assert fs.modality == "infrared" and fs.meta == {"checkpoint": "abc", "epoch": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["q.safetensors"]  # no temporary left


def test_minimal_file_without_paths(tmp_path):
    save_features(tmp_path / "g.safetensors", np.zeros((2, 3), np.float32), [1, 2], [1, 1])
    fs = load_features(tmp_path / "g.safetensors")
    assert fs.paths is None and fs.modality is None and fs.meta == {}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pids=[1, 2]), "'pids' must have one entry per feature"),
        (dict(camids=[1, 2, 3, 4]), "'camids'"),
        (dict(paths=["a"]), "'paths'"),
        (dict(feats=np.zeros(3)), "2-D"),
        (dict(feats=np.zeros((3, 2), np.int64)), "floating point"),
        (dict(modality="thermal"), "modality"),
        (dict(meta={"x": object()}), "JSON"),
    ],
)
def test_save_rejects_bad_input(tmp_path, kwargs, match):
    args = dict(feats=np.zeros((3, 2), np.float32), pids=[1, 2, 3], camids=[1, 1, 1])
    args.update(kwargs)
    with pytest.raises(ShapeError, match=match):
        save_features(tmp_path / "x.safetensors", **args)
    assert not list(tmp_path.iterdir())


def test_load_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_features(tmp_path / "missing.safetensors")
    save_safetensors({"feats": torch.zeros(2, 3), "pids": torch.tensor([1, 2])}, tmp_path / "a.safetensors")
    with pytest.raises(ShapeError, match=r"a.safetensors.*missing tensor\(s\) camids"):
        load_features(tmp_path / "a.safetensors")
    save_safetensors(
        {"feats": torch.zeros(2, 3), "pids": torch.tensor([1, 2]), "camids": torch.tensor([1, 2, 3])},
        tmp_path / "b.safetensors",
    )
    with pytest.raises(ShapeError, match="b.safetensors: 'camids'"):
        load_features(tmp_path / "b.safetensors")
    (tmp_path / "c.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_features(tmp_path / "c.safetensors")


def test_a_file_made_elsewhere_without_a_format_is_read(tmp_path):
    """Descriptors another codebase saved (``feats``, ``pids``, ``camids``, no metadata) are read as
    version 1 -- its scores can then be evaluated with the authors' protocol; a modality is needed
    only where the command splits by it."""
    feats = {"feats": torch.ones(2, 3), "pids": torch.tensor([1, 2]), "camids": torch.tensor([1, 1])}
    save_safetensors(feats, tmp_path / "mine.safetensors", {"modality": "infrared"})
    fs = load_features(tmp_path / "mine.safetensors")
    assert fs.feats.shape == (2, 3) and fs.pids.tolist() == [1, 2] and fs.modality == "infrared"
    save_safetensors(feats, tmp_path / "bare.safetensors")
    assert load_features(tmp_path / "bare.safetensors").modality is None


def test_a_format_vireid_does_not_know_is_refused_and_half_precision_is_read(tmp_path):
    feats = {"feats": torch.ones(2, 3), "pids": torch.tensor([1, 2]), "camids": torch.tensor([1, 1])}
    save_safetensors(feats, tmp_path / "v9.safetensors", {"format": "vireid.features/9"})
    with pytest.raises(ShapeError, match="format 'vireid.features/9', which this vireid does not read"):
        load_features(tmp_path / "v9.safetensors")
    save_safetensors(feats, tmp_path / "other.safetensors", {"format": "vireid-model"})
    with pytest.raises(ShapeError, match="not a features file"):
        load_features(tmp_path / "other.safetensors")
    half = dict(feats, feats=torch.ones(2, 3, dtype=torch.bfloat16))  # read as float32, no traceback
    save_safetensors(half, tmp_path / "bf16.safetensors", {"format": "vireid.features/1"})
    assert load_features(tmp_path / "bf16.safetensors").feats.dtype == np.float32
    save_safetensors(feats, tmp_path / "p.safetensors", {"format": "vireid.features/1", "paths": '{"a": 1}'})
    with pytest.raises(ShapeError, match="'paths' must be a list"):
        load_features(tmp_path / "p.safetensors")
