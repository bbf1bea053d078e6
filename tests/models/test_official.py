"""Loading the DEEN authors' checkpoints: parity with their model, safety, name mapping, CLI.

The fixtures ``tests/fixtures/official_deen_{default,regdb}.safetensors`` hold the
weights (under the authors' names), an input batch and the outputs of the
authors' own ``model.py`` + ``resnet.py`` run verbatim (channels / 16, full
depth; see ``tests/fixtures/official_deen_README.md``).  Each test rebuilds
their ``*.t`` file from it -- including the unused keys of their stem/trunk
ResNets, filled with random values, and numpy ``cmc``/``mAP``/``mINP`` entries.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from vireid.cli.main import main as cli_main
from vireid.errors import CheckpointError
from vireid.models import DEEN, load_official_deen
from vireid.models.official import map_official_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def read_fixture(variant: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(FIXTURES / f"official_deen_{variant}.safetensors"), "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        meta = fh.metadata()
    g = torch.Generator().manual_seed(1)
    net = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
    for key, shape in json.loads(meta["unused_keys"]).items():  # whole unused ResNets in their modules
        net[key] = torch.randn(shape, generator=g) if shape else torch.tensor(7)
    return net, tensors, meta


def write_t(path: Path, net: dict[str, torch.Tensor]) -> Path:
    torch.save(
        {"net": net, "cmc": np.linspace(0.3, 1.0, 20), "mAP": np.float64(0.5), "mINP": np.float64(0.25), "epoch": 40},
        path,
    )
    return path


@pytest.fixture(scope="module", params=["default", "regdb"])
def official(request, tmp_path_factory):
    variant = request.param
    net, tensors, meta = read_fixture(variant)
    path = write_t(tmp_path_factory.mktemp(variant) / f"{variant}_best.t", net)
    return variant, path, net, tensors


def test_outputs_equal_the_authors_model(official):
    variant, path, _, t = official
    model = load_official_deen(path, variant)
    assert not model.training and model.num_classes == 7 and model.variant == variant
    x_vis, x_ir = t["input.x_vis"], t["input.x_ir"]
    with torch.no_grad():
        for modal in (0, 1, 2):
            out = model(x_vis, x_ir, modal)
            torch.testing.assert_close(out.feat, t[f"out.eval{modal}.feat"], rtol=0, atol=1e-5)
            torch.testing.assert_close(out.feat_bn, t[f"out.eval{modal}.feat_bn"], rtol=0, atol=1e-5)
        model.train()
        model.dee.dropout.p = 0.0  # the golden train outputs were made with p = 0 too
        out = model(x_vis, x_ir, 0)
    torch.testing.assert_close(out.feat, t["out.train.pool"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.logits, t["out.train.logits"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.aux_losses["ort"].reshape(1), t["out.train.ort"], rtol=1e-5, atol=1e-5)


def test_numpy_metadata_is_loaded_safely(official):
    variant, path, _, _ = official
    model = load_official_deen(path, variant, num_classes=7)
    info = model.official_info
    assert info["epoch"] == 40 and isinstance(info["mAP"], np.float64) and info["cmc"].shape == (20,)


def test_dataparallel_prefix_and_bare_state_dict(official, tmp_path):
    variant, _, net, t = official
    path = tmp_path / "dp.t"
    torch.save({f"module.{k}": v for k, v in net.items()}, path)
    model = load_official_deen(path, variant)
    with torch.no_grad():
        out = model(t["input.x_vis"], None, 1)
    torch.testing.assert_close(out.feat_bn, t["out.eval1.feat_bn"], rtol=0, atol=1e-5)


def test_wrong_variant_or_class_count_is_a_clear_error(official):
    variant, path, _, _ = official
    other = "regdb" if variant == "default" else "default"
    with pytest.raises(CheckpointError, match=f"load it with variant='{variant}'"):
        load_official_deen(path, other)
    with pytest.raises(CheckpointError, match="7 classes"):
        load_official_deen(path, variant, num_classes=395)


def test_missing_and_unknown_keys_are_reported(tmp_path):
    net, _, _ = read_fixture("default")
    del net["MFA2.PNL.W.1.running_mean"]
    net["MFA4.extra.weight"] = torch.zeros(2)
    with pytest.raises(CheckpointError) as info:
        load_official_deen(write_t(tmp_path / "x.t", net))
    msg = str(info.value)
    assert "mfa2.pnl.out.bn.running_mean" in msg and "missing" in msg
    assert "MFA4.extra.weight" in msg and "unexpected" in msg


def test_arbitrary_pickles_are_refused(tmp_path):
    net, _, _ = read_fixture("regdb")
    path = tmp_path / "evil.t"
    torch.save({"net": net, "args": argparse.Namespace(lr=0.1)}, path)  # not an allowed global
    with pytest.raises(CheckpointError, match="does not unpickle"):
        load_official_deen(path, "regdb")


def test_name_mapping():
    assert map_official_key("visible_module.visible.conv1.weight") == "stem_visible.conv1.weight"
    assert map_official_key("thermal_module.thermal.bn1.running_var") == "stem_infrared.bn1.running_var"
    assert map_official_key("thermal_module.thermal.layer2.0.conv1.weight") is None
    assert map_official_key("base_resnet.base.bn1.weight") is None
    assert map_official_key("base_resnet.base.layer4.2.bn3.bias") == "backbone.layer4.2.bn3.bias"
    assert map_official_key("base_resnet.base.layer4.2.bn3.bias", "regdb") is None
    assert map_official_key("MFA3.CNL.W.0.weight") == "mfa3.cnl.out.conv.weight"
    assert map_official_key("MFA1.PNL.W.1.num_batches_tracked") == "mfa1.pnl.out.bn.num_batches_tracked"
    assert map_official_key("DEE.FC23.weight") == "dee.branch2.convs.2.weight"
    assert map_official_key("DEE.FC1.bias") == "dee.branch1.fuse.bias"
    assert map_official_key("bottleneck.running_mean") == "bottleneck.running_mean"


def test_cli_convert_writes_vireid_checkpoint(official, tmp_path, capsys):
    variant, path, _, t = official
    out = tmp_path / "deen.safetensors"
    assert cli_main(["convert", "--official", str(path), "--variant", variant, "--out", str(out)]) == 0
    assert "num_classes=7" in capsys.readouterr().out
    model = DEEN.from_checkpoint(out).eval()
    with torch.no_grad():
        feat = model(None, t["input.x_ir"], 2).feat
    torch.testing.assert_close(feat, t["out.eval2.feat"], rtol=0, atol=1e-5)
    assert cli_main(["convert", "--official", str(tmp_path / "nope.t"), "--out", str(out)]) == 2
    assert "file not found" in capsys.readouterr().err


def test_convert_refuses_non_finite_weights(official, tmp_path, capsys):
    """A diverged checkpoint (a NaN or inf in a tensor the model takes, buffers included) is one line
    naming the tensor; the authors' tensors the variant does not use are not read."""
    variant, _, net, _ = official
    for key, bad in (("visible_module.visible.conv1.weight", float("nan")), ("bottleneck.running_mean", float("inf"))):
        broken = dict(net)
        broken[key] = net[key].clone().reshape(-1).index_fill(0, torch.tensor([0]), bad).reshape(net[key].shape)
        path = write_t(tmp_path / f"{variant}_broken.t", broken)
        out = tmp_path / "out.safetensors"
        assert cli_main(["convert", "--official", str(path), "--variant", variant, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "not finite" in err and "_broken.t" in err, err
        assert not out.exists()


def test_a_vireid_file_is_not_taken_for_the_authors(tmp_path):
    """convert checks its input is the authors' checkpoint: a vireid state dict maps onto itself otherwise."""
    from vireid.cli.main import main
    from vireid.models.authors import convert_authors_checkpoint

    model = DEEN(num_classes=4, variant="regdb", base_channels=8, layers=(1, 1, 1, 1))
    torch.save({"net": model.state_dict()}, tmp_path / "ours.t")
    with pytest.raises(CheckpointError, match="holds vireid's parameter names, not an authors' DEEN/AGW"):
        convert_authors_checkpoint(tmp_path / "ours.t", tmp_path / "out.safetensors")
    with pytest.raises(CheckpointError, match="holds vireid's parameter names"):
        load_official_deen(tmp_path / "ours.t", "regdb")
    model.save(tmp_path / "ours.safetensors")
    with pytest.raises(CheckpointError, match="is a safetensors file, not an authors' DEEN/AGW checkpoint"):
        load_official_deen(tmp_path / "ours.safetensors", "regdb")
    with pytest.raises(CheckpointError, match="is a safetensors file"):
        convert_authors_checkpoint(tmp_path / "ours.safetensors", tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()
    net, _, _ = read_fixture("regdb")
    official = write_t(tmp_path / "theirs.t", net)
    before = official.read_bytes()
    assert main(["convert", "--official", str(official), "--variant", "regdb", "--out", str(official)]) == 2
    assert official.read_bytes() == before
