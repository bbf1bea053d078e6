"""Parity with the AGW authors' code: their checkpoint's outputs, their WRT loss, two SGD steps.

The fixture ``tests/fixtures/official_agw.safetensors`` holds weights (under the authors' names),
inputs and the outputs of the authors' own ``AGW/{model,resnet,loss}.py`` and the optimizer lines
of ``AGW/train.py``, run verbatim (channels / 16, full depth; see ``official_agw_README.md``).
Each test rebuilds their ``*.t`` file from it, filling the unused keys of the ResNets inside their
stem/trunk modules with random values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from tests.config.test_loader import CONFIGS
from vireid.cli.main import main as cli_main
from vireid.config import build, load_config
from vireid.errors import CheckpointError
from vireid.inference import load_model
from vireid.inference.loading import read_checkpoint
from vireid.losses import WeightedRegularizedTriplet
from vireid.losses.triplet import triplet_correct, wrt_distances
from vireid.models import AGW, load_official_agw
from vireid.models.base import TrainOutput
from vireid.models.official_agw import convert_official_agw_state_dict, map_official_agw_key
from vireid.optim.schedules import LRScheduler

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "official_agw.safetensors"


@pytest.fixture(scope="module")
def fixture():
    with safe_open(str(FIXTURE), "pt") as fh:
        t = {k: fh.get_tensor(k) for k in fh.keys()}
        meta = fh.metadata()
    g = torch.Generator().manual_seed(1)
    net = {k[4:]: v for k, v in t.items() if k.startswith("net.")}
    for key, shape in json.loads(meta["unused_keys"]).items():
        net[key] = torch.randn(shape, generator=g) if shape else torch.tensor(7)
    return net, t


def write_t(path: Path, net: dict[str, torch.Tensor]) -> Path:
    torch.save(
        {"net": net, "cmc": np.linspace(0.3, 1.0, 20), "mAP": np.float64(0.5), "mINP": np.float64(0.25), "epoch": 40},
        path,
    )
    return path


@pytest.fixture(scope="module")
def agw_t(fixture, tmp_path_factory):
    return write_t(tmp_path_factory.mktemp("agw") / "sysu_agw_best.t", fixture[0])


@pytest.fixture(scope="module")
def base_t(fixture, tmp_path_factory):
    net = {k: v for k, v in fixture[0].items() if not k.startswith("NL_")}
    return write_t(tmp_path_factory.mktemp("base") / "sysu_base_best.t", net)


@pytest.mark.parametrize("method", ["agw", "base"])
def test_outputs_equal_the_authors_model(method, fixture, agw_t, base_t):
    _, t = fixture
    model = load_official_agw(agw_t if method == "agw" else base_t)
    assert not model.training and model.num_classes == 7 and model.config["base_channels"] == 4
    assert (model.non_local, model.gem) == ((True, True) if method == "agw" else (False, False))
    assert [len(nl) for nl in model.non_local_blocks] == ([0, 2, 3, 0] if method == "agw" else [0, 0, 0, 0])
    pre = "out." if method == "agw" else "out.base."
    x_vis, x_ir = t["input.x_vis"], t["input.x_ir"]
    with torch.no_grad():
        for modal in (0, 1, 2):
            out = model(x_vis, x_ir, modal)
            torch.testing.assert_close(out.feat, t[f"{pre}eval{modal}.feat"], rtol=0, atol=1e-5)
            torch.testing.assert_close(out.feat_bn, t[f"{pre}eval{modal}.feat_bn"], rtol=0, atol=1e-5)
        model.train()
        out = model(x_vis, x_ir, 0)
    assert isinstance(out, TrainOutput) and out.aux_losses == {}
    torch.testing.assert_close(out.feat, t[f"{pre}train.pool"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.logits, t[f"{pre}train.logits"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["small", "small_norm", "pool"])
def test_wrt_equals_the_authors_loss(case, fixture):
    _, t = fixture
    feat, labels = t[f"wrt.{case}.feat"].clone().requires_grad_(True), t[f"wrt.{case}.labels"]
    loss = WeightedRegularizedTriplet(normalize_feature=case.endswith("norm"))(feat, labels)
    loss.backward()
    torch.testing.assert_close(loss.reshape(1), t[f"wrt.{case}.loss"], rtol=1e-6, atol=1e-6)
    want = t[f"wrt.{case}.grad"]
    assert (feat.grad - want).norm() <= 1e-5 * want.norm()  # float rounding of the distances only
    if not case.endswith("norm"):
        assert triplet_correct(*wrt_distances(feat.detach(), labels)) == int(t[f"wrt.{case}.correct"])


# Parameters whose gradient is zero in exact arithmetic (rounding noise in float): the bias of
# a conv followed by a train-mode BN, and the output-BN shift of a non-local block whose output
# only feeds train-mode BNs (the last one of a stage, before the next stage's strided block).
ZERO_GRAD = re.compile(r"^nl\d\.\d\.out\.conv\.bias$|^nl2\.1\.out\.bn\.bias$|^nl3\.2\.out\.bn\.bias$")


def test_sgd_steps_of_the_recipe_equal_the_authors(fixture, agw_t):
    """Our recipe (agw_sysu.yaml: optimizer groups, schedule, CE + WRT) vs their train.py, in float64.

    Step 1 (epoch 5: LR 0.006 / 0.06, the Nesterov step from zero momentum): every weight and
    buffer.  Step 2 (epoch 20: 0.001 / 0.01, the momentum buffer at work): everything outside the
    ResNet trunk.  Both sides run in float64 (in float32 the train-mode BNs amplify rounding to
    ~1e-4 in a few gradients; in float64 the gradients agree to 1e-12).
    """
    _, t = fixture
    cfg = load_config(CONFIGS / "agw_sysu.yaml")
    model = load_official_agw(agw_t).double().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = build.build_optimizer(cfg.optim, model)
    scheduler = LRScheduler(optimizer, build.build_schedule(cfg), steps_per_epoch=10)
    criterion = build.build_objective(cfg.loss, model)
    weights = {t.name: (w, t) for w, t in zip(criterion.weights, criterion.terms, strict=True)}
    for i in range(2):
        epoch = int(t[f"step{i}.epoch"])
        scheduler.step_to(epoch, 0)
        assert scheduler.lrs() == pytest.approx([0.1 * float(t[f"step{i}.lr"]), float(t[f"step{i}.lr"])])
        lab = t[f"step{i}.labels"]
        out = model(t[f"step{i}.x_vis"].double(), t[f"step{i}.x_ir"].double(), 0)
        # the criterion computes in float32 (for autocast); its terms in float64:
        labels = torch.cat((lab, lab))
        terms = {
            "id": weights["id"][0] * weights["id"][1].loss(out.logits, labels),
            "tri": weights["tri"][0] * weights["tri"][1].loss(out.feat, labels),
        }
        fp32 = criterion(out, lab, lab)
        assert fp32.keys() == terms.keys()
        for name in terms:
            torch.testing.assert_close(fp32[name].double(), terms[name], rtol=1e-6, atol=0)
        torch.testing.assert_close(terms["id"].reshape(1), t[f"step{i}.loss_id"], rtol=1e-10, atol=0)
        torch.testing.assert_close(terms["tri"].reshape(1), t[f"step{i}.loss_tri"], rtol=1e-10, atol=0)
        optimizer.zero_grad()
        sum(terms.values()).backward()
        optimizer.step()
        prefix = f"delta{i + 1}."
        theirs, _ = convert_official_agw_state_dict({k[len(prefix) :]: v for k, v in t.items() if k.startswith(prefix)})
        ours = model.state_dict()
        assert set(theirs) <= set(ours) and (i == 1 or set(theirs) == set(ours))
        for k, want in theirs.items():
            if not want.is_floating_point():
                assert torch.equal(ours[k], want), k  # num_batches_tracked
                continue
            got = (ours[k] - before[k]).float()
            if ZERO_GRAD.match(k):  # noise gradients: only the weight decay is a real update
                torch.testing.assert_close(got, want, rtol=0, atol=1e-9, msg=lambda m, k=k: f"{k}: {m}")
                continue
            if k == "bottleneck.bias":  # frozen (BNNeck without shift): unchanged on both sides
                assert not got.any() and not want.any()
                continue
            assert (got - want).norm() <= 1e-5 * want.norm(), k  # the update, per tensor
            new = before[k].float() + want
            assert (ours[k].float() - new).norm() <= 1e-5 * new.norm(), k  # the updated weights


def test_numpy_metadata_dataparallel_prefix_and_bare_state_dict(fixture, agw_t, tmp_path):
    net, t = fixture
    assert load_official_agw(agw_t, num_classes=7).official_info["epoch"] == 40
    path = tmp_path / "dp.t"
    torch.save({f"module.{k}": v for k, v in net.items()}, path)
    with torch.no_grad():
        out = load_official_agw(path)(None, t["input.x_ir"], 2)
    torch.testing.assert_close(out.feat_bn, t["out.eval2.feat_bn"], rtol=0, atol=1e-5)


def test_wrong_architecture_missing_and_unknown_keys_are_clear_errors(fixture, agw_t, tmp_path):
    net, _ = fixture
    with pytest.raises(CheckpointError, match="7 classes"):
        load_official_agw(agw_t, num_classes=395)
    deen = dict(net, **{"MFA1.CNL.g.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="DEEN checkpoint"):
        load_official_agw(write_t(tmp_path / "deen.t", deen))
    broken = {k: v for k, v in net.items() if k != "NL_3.1.W.1.running_mean"}
    broken["NL_5.0.g.0.weight"] = torch.zeros(2)
    with pytest.raises(CheckpointError) as info:
        load_official_agw(write_t(tmp_path / "broken.t", broken))
    msg = str(info.value)
    assert "nl3.1.out.bn.running_mean" in msg and "missing" in msg
    assert "NL_5.0.g.0.weight" in msg and "unexpected" in msg


def test_name_mapping():
    assert map_official_agw_key("NL_2.1.g.0.weight") == "nl2.1.g.weight"
    assert map_official_agw_key("NL_3.0.W.0.bias") == "nl3.0.out.conv.bias"
    assert map_official_agw_key("NL_3.2.W.1.running_var") == "nl3.2.out.bn.running_var"
    assert map_official_agw_key("NL_2.0.theta.weight") == "nl2.0.theta.weight"
    assert map_official_agw_key("visible_module.visible.conv1.weight") == "stem_visible.conv1.weight"
    assert map_official_agw_key("thermal_module.thermal.layer3.0.conv1.weight") is None
    assert map_official_agw_key("base_resnet.base.bn1.weight") is None
    assert map_official_agw_key("base_resnet.base.layer4.2.bn3.bias") == "backbone.layer4.2.bn3.bias"
    assert map_official_agw_key("bottleneck.running_mean") == "bottleneck.running_mean"


def test_load_model_recognises_an_agw_file_and_uses_their_test_descriptor(fixture, agw_t):
    _, t = fixture
    loaded = read_checkpoint(agw_t)
    assert loaded.architecture == "AGW" and isinstance(loaded.model, AGW)
    with pytest.raises(CheckpointError, match="an AGW checkpoint has none"):
        read_checkpoint(agw_t, variant="regdb")
    model = load_model(agw_t)
    assert (model.config.architecture, model.config.flip, model.config.combine) == ("AGW", False, "bn")
    desc = model.model.embed(t["input.x_ir"], "infrared", flip=model.config.flip, combine=model.config.combine)
    torch.testing.assert_close(desc, t["out.eval2.feat_bn"], rtol=0, atol=1e-5)


def test_cli_convert_recognises_agw(fixture, agw_t, base_t, tmp_path, capsys):
    _, t = fixture
    out = tmp_path / "agw.safetensors"
    assert cli_main(["convert", "--official", str(agw_t), "--out", str(out)]) == 0
    assert "AGW non_local=True gem=True num_classes=7" in capsys.readouterr().out
    model = AGW.from_checkpoint(out)
    with torch.no_grad():
        feat = model(t["input.x_vis"], None, 1).feat
    torch.testing.assert_close(feat, t["out.eval1.feat"], rtol=0, atol=1e-5)
    assert cli_main(["convert", "--official", str(base_t), "--out", str(tmp_path / "b.safetensors")]) == 0
    assert "AGW non_local=False gem=False" in capsys.readouterr().out
    assert cli_main(["convert", "--official", str(agw_t), "--variant", "regdb", "--out", str(out)]) == 2
    assert "DEEN option" in capsys.readouterr().err
