"""models.weights: the same weights give the same bytes and the same tensor hash; init_from for fine-tuning."""

import pytest
import torch

from tests.inference.tiny import tiny_deen
from vireid.errors import CheckpointError
from vireid.models import DEEN
from vireid.models.weights import init_from_checkpoint, read_weights, save_weights, weights_sha256


def test_same_weights_same_bytes_whatever_the_metadata_order(tmp_path):
    model = tiny_deen(0)
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_weights(model, a, {"step": 3, "metrics": {"rank1": 0.5, "mAP": 0.4}, "config": {"x": 1, "a": [1, 2]}})
    save_weights(model, b, {"config": {"a": [1, 2], "x": 1}, "metrics": {"mAP": 0.4, "rank1": 0.5}, "step": 3})
    assert a.read_bytes() == b.read_bytes()
    model.save(a)
    tiny_deen(0).save(b)  # rebuilt from scratch, saved again
    assert a.read_bytes() == b.read_bytes()


def test_tensor_hash_ignores_the_file_it_came_from(tmp_path):
    model = tiny_deen(0)
    save_weights(model, tmp_path / "run.safetensors", {"step": 10, "config": {"anything": True}})
    model.save(tmp_path / "copy.safetensors")
    a = read_weights(tmp_path / "run.safetensors")[0]
    b = read_weights(tmp_path / "copy.safetensors")[0]
    assert (tmp_path / "run.safetensors").read_bytes() != (tmp_path / "copy.safetensors").read_bytes()
    assert weights_sha256(a) == weights_sha256(b) == weights_sha256(model)
    assert weights_sha256(tiny_deen(1)) != weights_sha256(model)
    with torch.no_grad():
        model.classifier.weight[0, 0] += 1e-6
    assert weights_sha256(model) != weights_sha256(a)


def test_init_from_loads_everything_but_a_classifier_of_another_size(tmp_path):
    trained = tiny_deen(0)
    trained.save(tmp_path / "trained.safetensors")
    fresh = DEEN(num_classes=7, base_channels=8, layers=(1, 1, 1, 1))
    before = fresh.classifier.weight.detach().clone()
    report = init_from_checkpoint(fresh, tmp_path / "trained.safetensors")
    own, theirs = fresh.state_dict(), trained.state_dict()
    assert all(torch.equal(own[k], theirs[k]) for k in own if k != "classifier.weight")
    assert torch.equal(fresh.classifier.weight, before)  # left at its initialisation
    assert "loaded" in report and "left at initialisation (4 identities in the checkpoint, 7 here)" in report
    assert "classifier.weight: checkpoint (4, " in report


def test_init_from_is_strict_about_everything_else(tmp_path):
    tiny_deen(0).save(tmp_path / "trained.safetensors")
    wider = DEEN(num_classes=4, base_channels=16, layers=(1, 1, 1, 1))
    with pytest.raises(CheckpointError, match="does not fit the configured deen.*shape-mismatched"):
        init_from_checkpoint(wider, tmp_path / "trained.safetensors")
    with pytest.raises(CheckpointError, match="not a vireid model checkpoint"):
        save_weights(tiny_deen(0), tmp_path / "bare.safetensors")
        init_from_checkpoint(wider, tmp_path / "bare.safetensors")


def test_pretrained_explains_a_vireid_checkpoint(tmp_path):
    tiny_deen(0).save(tmp_path / "trained.safetensors")
    with pytest.raises(CheckpointError, match="train.init_from="):
        DEEN(num_classes=4, base_channels=8, layers=(1, 1, 1, 1)).load_pretrained(tmp_path / "trained.safetensors")
