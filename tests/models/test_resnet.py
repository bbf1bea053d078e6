"""ResNet-50 with torchvision names: structure, strides, strict checkpoint loading."""

from __future__ import annotations

import pytest
import torch

from vireid.errors import CheckpointError
from vireid.models import ResNet, resnet50
from vireid.utils.io import save_safetensors


def tiny(**kw) -> ResNet:
    kw.setdefault("layers", (1, 1, 1, 1))
    kw.setdefault("base_channels", 8)
    return ResNet(**kw)


def test_resnet50_matches_torchvision_layout():
    model = resnet50()
    sd = model.state_dict()
    # torchvision's resnet50: 320 state-dict entries, 25,557,032 parameters
    assert len(sd) == 320
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    for key in (
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.num_batches_tracked",
        "layer3.5.bn2.weight",
        "layer4.2.bn3.running_var",
        "fc.weight",
        "fc.bias",
    ):
        assert key in sd, key
    assert "layer1.1.downsample.0.weight" not in sd
    assert sd["layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)


def test_stride_on_3x3_conv_and_last_stride():
    model = tiny(last_stride=2)
    assert model.layer2[0].conv1.stride == (1, 1) and model.layer2[0].conv2.stride == (2, 2)
    assert model.layer2[0].downsample[0].stride == (2, 2)
    x = torch.randn(2, 3, 64, 32)
    assert model(x).shape == (2, 1000)
    feat = tiny(last_stride=2, num_classes=None)(x)
    assert feat.shape == (2, 256, 2, 1)
    m1 = tiny(last_stride=1, num_classes=None)
    assert m1.layer4[0].conv2.stride == (1, 1) and m1.layer4[0].downsample[0].stride == (1, 1)
    assert m1(x).shape == (2, 256, 4, 2)


def test_depth_options_and_no_stem():
    m = ResNet(layers=(2, 1, 1), base_channels=4, num_classes=None, stem=False)
    assert not hasattr(m, "layer4") and not hasattr(m, "conv1")
    assert m.out_channels == 64 and len(m.layer1) == 2
    assert m(torch.randn(1, 4, 16, 8)).shape == (1, 64, 4, 2)
    with pytest.raises(ValueError):
        ResNet(layers=(1, 1, 1, 1, 1))
    with pytest.raises(ValueError):
        ResNet(last_stride=3)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_checkpoint_round_trip(tmp_path, suffix):
    torch.manual_seed(0)
    src, dst = tiny(num_classes=5).eval(), tiny(num_classes=5).eval()
    path = tmp_path / f"r50{suffix}"
    if suffix == ".pth":
        torch.save(src.state_dict(), path)
    else:
        save_safetensors(src.state_dict(), path)
    dst.load_checkpoint(path)
    x = torch.randn(2, 3, 64, 32)
    torch.testing.assert_close(dst(x), src(x), rtol=0, atol=0)


def test_checkpoint_missing_unexpected_and_mismatched_keys_are_listed(tmp_path):
    sd = tiny().state_dict()
    del sd["layer3.0.bn2.running_var"]
    sd["layer9.0.conv1.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as info:
        tiny().load_checkpoint(path)
    msg = str(info.value)
    assert "layer3.0.bn2.running_var" in msg and "missing" in msg
    assert "layer9.0.conv1.weight" in msg and "unexpected" in msg
    # another width: every mismatched tensor is named with both shapes
    torch.save(tiny(base_channels=4).state_dict(), path)
    with pytest.raises(CheckpointError, match=r"conv1\.weight: checkpoint \(4, 3, 7, 7\) vs model \(8, 3, 7, 7\)"):
        tiny().load_checkpoint(path)


def test_headless_model_ignores_fc_of_imagenet_checkpoint(tmp_path):
    full = tiny(num_classes=1000)
    path = tmp_path / "imagenet.pth"
    torch.save({"state_dict": full.state_dict()}, path)  # wrapped dicts are unwrapped
    head = tiny(num_classes=None)
    head.load_checkpoint(path)
    torch.testing.assert_close(head.layer4[0].conv3.weight, full.layer4[0].conv3.weight)


def test_torchvision_checkpoint_without_batch_counters_loads(tmp_path):
    src = tiny().eval()
    sd = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "resnet50-19c8e357.pth"  # the classic torchvision file has no counters
    torch.save(sd, path)
    dst = tiny().eval()
    dst.load_checkpoint(path)
    torch.testing.assert_close(dst(torch.ones(1, 3, 32, 32)), src(torch.ones(1, 3, 32, 32)))


def test_non_state_dict_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        tiny().load_checkpoint(path)
