"""DEEN (tiny widths): shapes, gradients, save/load, ImageNet init, embed, bad inputs."""

from __future__ import annotations

import pytest
import torch

from vireid.errors import CheckpointError, ConfigError, ShapeError
from vireid.models import DEEN, EvalOutput, ResNet, TrainOutput

H, W = 64, 32  # stride-16 map 4x2: even position counts everywhere


def tiny(variant: str = "default", num_classes: int = 5, **kw) -> DEEN:
    torch.manual_seed(0)
    return DEEN(num_classes, variant, base_channels=4, layers=(1, 1, 1, 1), **kw)


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, H, W, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant,dim", [("default", 128), ("regdb", 64)])
def test_shapes_train_and_eval_all_modals(variant, dim):
    model = tiny(variant)
    assert model.pool_dim == dim and model.num_embeddings == 3
    xv, xi = images(2), images(3, 1)
    for modal, m in ((0, 5), (1, 2), (2, 3)):
        model.train()
        out = model(xv if modal != 2 else None, xi if modal != 1 else None, modal)
        assert isinstance(out, TrainOutput)
        assert out.feat.shape == (3 * m, dim) and out.logits.shape == (3 * m, 5)
        assert out.aux_losses["ort"].ndim == 0 and out.aux_losses["ort"] >= 0
        assert out.feature_map.shape == (3 * m, dim, 4, 2)
        model.eval()
        with torch.no_grad():
            ev = model(xv, xi, modal)
        assert isinstance(ev, EvalOutput)
        assert ev.feat.shape == ev.feat_bn.shape == (3 * m, dim)
        torch.testing.assert_close(ev.feat.norm(dim=1), torch.ones(3 * m))
        torch.testing.assert_close(ev.feat_bn.norm(dim=1), torch.ones(3 * m))


def test_regdb_has_no_mfa3_and_no_layer4():
    model = tiny("regdb")
    names = {n.split(".")[0] + "." + n.split(".")[1] for n, _ in model.named_parameters() if "." in n}
    assert model.mfa3 is None and not hasattr(model.backbone, "layer4")
    assert "backbone.layer4" not in names and model.dee.channels == 32


@pytest.mark.parametrize("variant", ["default", "regdb"])
def test_every_parameter_gets_a_gradient(variant):
    model = tiny(variant).train()
    # the zero-initialised MFA output BNs would block gradients to CNL/PNL's convs at step 0
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    out = model(images(2), images(2, 1), 0)
    loss = out.logits.logsumexp(1).mean() + out.feat.square().mean() + out.aux_losses["ort"]
    loss.backward()
    for name, p in model.named_parameters():
        if name == "bottleneck.bias":
            assert not p.requires_grad and p.grad is None  # BNNeck: frozen shift, as published
            continue
        assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0, name


def test_published_initialisation():
    model = DEEN(10, base_channels=8, layers=(1, 1, 1, 1))
    assert torch.all(model.bottleneck.bias == 0) and not model.bottleneck.bias.requires_grad
    assert 0.9 < model.bottleneck.weight.mean() < 1.1 and model.bottleneck.weight.std() > 0
    assert model.classifier.bias is None and model.classifier.weight.std() < 0.01
    for mfa in (model.mfa1, model.mfa2, model.mfa3):
        for nl in (mfa.cnl, mfa.pnl):
            assert torch.all(nl.out.bn.weight == 0) and torch.all(nl.out.bn.bias == 0)
    assert model.dee.dropout.p == 0.01


def test_orthogonal_loss_is_the_published_formula():
    model = tiny().train()
    model.dee.dropout.p = 0.0
    out = model(images(2), images(2, 1), 0)
    _, f1, f2 = out.feat.chunk(3)
    torch.testing.assert_close(out.aux_losses["ort"], (f1 * f2).sum() / out.feat.shape[0])


def test_state_dict_round_trip_through_safetensors(tmp_path):
    model = tiny("regdb", num_classes=7).eval()
    path = tmp_path / "deen.safetensors"
    model.save(path)
    loaded = DEEN.from_checkpoint(path)
    assert not loaded.training
    assert loaded.config == model.config and loaded.variant == "regdb" and loaded.num_classes == 7
    x = images(2)
    torch.testing.assert_close(loaded(x, None, 1).feat_bn, model(x, None, 1).feat_bn, rtol=0, atol=0)
    assert not loaded.bottleneck.bias.requires_grad


def test_loading_another_architecture_lists_mismatched_keys(tmp_path):
    path = tmp_path / "regdb.safetensors"
    tiny("regdb").save(path)
    from vireid.models.weights import load_state_dict_strict, read_model_checkpoint

    state, name, _, _ = read_model_checkpoint(path)
    assert name == "deen"
    with pytest.raises(CheckpointError) as info:
        load_state_dict_strict(tiny("default"), state, source=str(path))
    msg = str(info.value)
    assert "missing key(s)" in msg and "backbone.layer4.0.conv1.weight" in msg
    assert "dee.branch1.convs.0.weight: checkpoint (8, 32, 3, 3) vs model (16, 64, 3, 3)" in msg
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError):
        DEEN.from_checkpoint(tmp_path / "junk.safetensors")


def test_load_pretrained_initialises_both_stems_and_trunk(tmp_path):
    r = ResNet(layers=(1, 1, 1, 1), base_channels=4, num_classes=10)
    path = tmp_path / "r50.pth"
    torch.save(r.state_dict(), path)
    for variant in ("default", "regdb"):
        model = tiny(variant)
        model.load_pretrained(path)
        for stem in (model.stem_visible, model.stem_infrared):
            torch.testing.assert_close(stem.conv1.weight, r.conv1.weight)
            torch.testing.assert_close(stem.bn1.running_var, r.bn1.running_var)
        torch.testing.assert_close(model.backbone.layer3[0].conv2.weight, r.layer3[0].conv2.weight)
    sd = r.state_dict()
    del sd["layer2.0.bn1.weight"]
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"layer2\.0\.bn1\.weight"):
        tiny().load_pretrained(path)


def test_embed_matches_the_authors_test_time_fusion():
    model = tiny().eval()
    x = images(3)
    with torch.no_grad():
        a, b = model(x, None, 1), model(x.flip(3), None, 1)
    pool, bn = a.feat + b.feat, a.feat_bn + b.feat_bn
    q = model.embed(x, "visible", normalize=False)
    assert q.shape == (3, 2 * 3 * 128)
    # test.py: distmat7 = sum over the 3 embeddings of pool.pool + bn.bn
    ref = sum(
        pool[3 * e : 3 * e + 3] @ pool[3 * e : 3 * e + 3].T + bn[3 * e : 3 * e + 3] @ bn[3 * e : 3 * e + 3].T
        for e in range(3)
    )
    torch.testing.assert_close(q @ q.T, ref)
    assert model.embed(x, "infrared").norm(dim=1).sub(1).abs().max() < 1e-5
    assert not model.training


@pytest.mark.parametrize(
    "bad,match",
    [
        ((torch.randn(2, 1, H, W), images(2)), r"x_vis: expected images of shape \(B, 3, H, W\)"),
        ((images(2), None), r"x_ir: images required"),
        ((torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)), r"too small"),
        ((torch.randn(2, 3, 48, 16), torch.randn(2, 3, 48, 16)), r"even number of positions"),
        ((images(2), torch.randn(2, 3, 32, 32)), r"same H x W"),
    ],
)
def test_bad_inputs_raise_shape_errors(bad, match):
    with pytest.raises(ShapeError, match=match):
        tiny()(*bad, 0)


def test_bad_modal_and_constructor_arguments():
    with pytest.raises(ShapeError, match="modal"):
        tiny()(images(1), images(1), 3)
    with pytest.raises(ValueError):
        DEEN(5, "sysu")
    with pytest.raises(ValueError):
        DEEN(5, layers=(1, 1, 1))


def test_ow_modules_cover_the_resnet_convolutions():
    model = tiny()
    convs = model.ow_modules()
    assert all(isinstance(m, torch.nn.Conv2d) for m in convs)
    assert model.stem_visible.conv1 in convs and model.backbone.layer4[0].conv2 in convs
    assert model.dee.branch1.fuse not in convs and model.mfa1.cnl.g not in convs
    assert len(convs) == 2 + 4 * 4  # two stems + (3 convs + downsample) per single-block stage
    from vireid.losses.svdo import WeightOrthogonality  # the O.W. loss takes this list as is

    penalty = WeightOrthogonality(seed=0)(convs)
    penalty.backward()
    assert penalty > 0 and model.backbone.layer2[0].conv2.weight.grad is not None


@pytest.mark.parametrize("position", ["layer1", "layer2"])
@pytest.mark.parametrize("variant,dim", [("default", 128), ("regdb", 64)])
def test_abd_options_shapes_extras_and_gradients(variant, dim, position):
    model = tiny(variant, abd_cam=True, abd_cam_position=position, abd_attention_branch=True).train()
    assert model.feat_dim == 2 * dim and model.classifier.in_features == 2 * dim
    for m in model.modules():  # wake up zero-initialised gammas / BNs so every parameter is reached
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
        if hasattr(m, "gamma"):
            torch.nn.init.constant_(m.gamma, 0.5)
    out = model(images(2), images(2, 1), 0)
    assert out.feat.shape == (12, 2 * dim) and out.logits.shape == (12, 5)
    if position == "layer1":  # ABD-Net's ShallowCAM(256) after layer1: 4c channels, stride 4
        assert out.of_features.shape == (4, 16, H // 4, W // 4) and model.abd_cam is None
    else:  # after layer2: 8c channels, stride 8
        assert out.of_features.shape == (4, 32, H // 8, W // 8) and model.shallow_cam is None
    _, f1, f2 = out.feat[:, :dim].chunk(3)  # ort stays on the global branch
    torch.testing.assert_close(out.aux_losses["ort"], (f1 * f2).sum() / 12)
    (out.logits.logsumexp(1).mean() + out.feat.square().mean() + out.of_features.mean()).backward()
    for name, p in model.named_parameters():
        if name != "bottleneck.bias":
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.eval()
    with torch.no_grad():
        ev = model(images(2), None, 1)
    assert ev.feat.shape == (6, 2 * dim)


def test_abd_options_are_off_by_default_and_identity_at_init():
    plain = tiny()
    assert plain.shallow_cam is None and plain.abd_cam is None and plain.att_pam is None
    assert plain.feat_dim == plain.pool_dim
    for position in ("layer1", "layer2"):
        abd = tiny(abd_cam=True, abd_cam_position=position)
        abd.load_state_dict(plain.state_dict(), strict=False)  # CAM's gamma starts at 0 -> same outputs
        plain.eval(), abd.eval()
        with torch.no_grad():
            torch.testing.assert_close(abd(images(2), None, 1).feat, plain(images(2), None, 1).feat)


def test_shallow_cam_sits_after_layer1_by_default_as_abd_net():
    """ABD-Net's ``ResNetCommonBranch``: ``backbone1`` (stem + layer1), ``ShallowCAM(args, 256)``, then
    ``backbone2`` (layer2, layer3); a checkpoint from the layer2 position does not load silently."""
    model = tiny(abd_cam=True)
    assert model.config["abd_cam_position"] == "layer1" and model.shallow_cam is not None
    assert "shallow_cam.gamma" in model.state_dict() and "abd_cam.gamma" not in model.state_dict()
    old = tiny(abd_cam=True, abd_cam_position="layer2")
    with pytest.raises(RuntimeError, match="shallow_cam.gamma"):
        model.load_state_dict(old.state_dict())
    with pytest.raises(ValueError, match="abd_cam_position"):
        tiny(abd_cam=True, abd_cam_position="layer3")


def test_modality_stems_start_equal():
    """As with the authors' two copies of one ImageNet stem, both stems start from the same weights."""
    model = DEEN(num_classes=3, base_channels=4, layers=[1, 1, 1, 1])
    vis, ir = model.stem_visible.state_dict(), model.stem_infrared.state_dict()
    assert vis.keys() == ir.keys() and all(torch.equal(vis[k], ir[k]) for k in vis)
    assert vis["conv1.weight"].data_ptr() != ir["conv1.weight"].data_ptr()  # equal, not shared


def test_ow_modules_abd_reach_is_each_stem_conv1():
    """ABD-Net's ConvRegularizer descends only nn.Sequential: of a ResNet-50 it reaches conv1."""
    model = tiny()
    assert model.ow_modules(reach="abd") == [model.stem_visible.conv1, model.stem_infrared.conv1]
    with pytest.raises(ConfigError, match="reach"):
        model.ow_modules(reach="some")
