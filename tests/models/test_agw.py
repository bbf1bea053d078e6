"""AGW and its two-stream ``base`` (tiny widths): shapes, placement, GeM, gradients, weights, embed."""

from __future__ import annotations

import pytest
import torch

from vireid.errors import CheckpointError, ShapeError
from vireid.models import AGW, DEEN, EvalOutput, ResNet, TrainOutput
from vireid.models.agw import NonLocal, gem_pool

H, W = 64, 32


def tiny(num_classes: int = 5, **kw) -> AGW:
    torch.manual_seed(0)
    kw.setdefault("base_channels", 4)
    kw.setdefault("layers", (1, 1, 1, 1))
    return AGW(num_classes, **kw)


def images(n: int, seed: int = 0, h: int = H, w: int = W) -> torch.Tensor:
    return torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def activate_non_local(model: AGW) -> None:
    """The non-local output BNs start at zero (identity blocks); make them act."""
    g = torch.Generator().manual_seed(3)
    for nls in model.non_local_blocks:
        for nl in nls:
            with torch.no_grad():
                nl.out.bn.weight.uniform_(0.5, 1.5, generator=g)
                nl.out.bn.bias.uniform_(-0.2, 0.2, generator=g)


@pytest.mark.parametrize("method", ["agw", "base"])
def test_shapes_train_and_eval_all_modals(method):
    model = tiny(non_local=method == "agw", gem=method == "agw")
    assert model.pool_dim == 128 and model.num_embeddings == 1
    xv, xi = images(2), images(3, 1)
    for modal, m in ((0, 5), (1, 2), (2, 3)):
        model.train()
        out = model(xv if modal != 2 else None, xi if modal != 1 else None, modal)
        assert isinstance(out, TrainOutput) and out.aux_losses == {}
        assert out.feat.shape == (m, 128) and out.logits.shape == (m, 5)
        assert out.feature_map.shape == (m, 128, 4, 2)  # last stride 1: H / 16
        model.eval()
        with torch.no_grad():
            ev = model(xv, xi, modal)
        assert isinstance(ev, EvalOutput) and ev.feat.shape == ev.feat_bn.shape == (m, 128)
        torch.testing.assert_close(ev.feat_bn.norm(dim=1), torch.ones(m))


def test_non_local_blocks_follow_the_last_bottlenecks_of_stages_2_and_3():
    """AGW/model.py: NL_k_idx = the last non_layers[k] block indices of each stage, [0, 2, 3, 0]."""
    model = AGW(5, base_channels=4).eval()
    assert [len(nl) for nl in model.non_local_blocks] == [0, 2, 3, 0]
    assert [nl.in_channels for nl in model.nl3] == [64] * 3 and model.nl2[0].inter_channels == 1
    order = []
    names = {m: n for n, m in model.named_modules()}
    watched = [
        m
        for n, m in model.named_modules()
        if n.count(".") == 2 and n.startswith("backbone.layer") or n.count(".") == 1 and n.startswith("nl")
    ]
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(names[m])) for m in watched]
    with torch.no_grad():
        model(images(1), None, 1)
    for h in hooks:
        h.remove()
    assert order == (
        ["backbone.layer1.0", "backbone.layer1.1", "backbone.layer1.2"]
        + ["backbone.layer2.0", "backbone.layer2.1", "backbone.layer2.2", "nl2.0", "backbone.layer2.3", "nl2.1"]
        + [f"backbone.layer3.{i}" for i in range(3)]
        + ["backbone.layer3.3", "nl3.0", "backbone.layer3.4", "nl3.1", "backbone.layer3.5", "nl3.2"]
        + ["backbone.layer4.0", "backbone.layer4.1", "backbone.layer4.2"]
    )


def test_base_is_the_plain_two_stream_network():
    agw, base = tiny(), tiny(non_local=False, gem=False)
    assert not any(len(nl) for nl in base.non_local_blocks)
    state = {k: v for k, v in agw.state_dict().items() if not k.startswith("nl")}
    assert state.keys() == base.state_dict().keys()
    base.load_state_dict(state)
    base.eval()
    with torch.no_grad():
        x = images(2)
        fmap = base.backbone(base.stem_visible(x))
        torch.testing.assert_close(base(x, None, 1).feat, torch.nn.functional.normalize(fmap.mean((2, 3))))


def test_gem_pool_is_the_published_formula():
    x = torch.rand(2, 3, 4, 5) * 3
    want = (torch.mean(x.view(2, 3, -1) ** 3.0, dim=-1) + 1e-12) ** (1 / 3.0)  # AGW/model.py
    torch.testing.assert_close(gem_pool(x), want)
    torch.testing.assert_close(gem_pool(x, p=1.0), x.mean((2, 3)))
    assert gem_pool(x).ge(x.mean((2, 3)) - 1e-6).all()  # power mean >= arithmetic mean
    big = torch.full((1, 2, 3, 3), 100.0, dtype=torch.float16)  # 100^3 overflows fp16
    out = gem_pool(big)
    assert out.dtype == torch.float32 and torch.allclose(out, torch.full((1, 2), 100.0))


def test_non_local_block_equals_the_authors_formula_in_both_association_orders():
    torch.manual_seed(0)
    for hw in ((4, 2), (36, 18)):  # 8 positions (authors' order) and 648 (cheaper order)
        nl = NonLocal(8, inter_channels=2)
        with torch.no_grad():
            nl.out.bn.weight.uniform_(0.5, 1.5)
        nl.eval()
        x = torch.randn(2, 8, *hw)
        b, n = 2, hw[0] * hw[1]
        with torch.no_grad():
            g = nl.g(x).view(b, 2, -1).permute(0, 2, 1)
            theta = nl.theta(x).view(b, 2, -1).permute(0, 2, 1)
            phi = nl.phi(x).view(b, 2, -1)
            y = torch.matmul(torch.matmul(theta, phi) / n, g).permute(0, 2, 1).contiguous().view(b, 2, *hw)
            torch.testing.assert_close(nl(x), nl.out(y) + x, rtol=1e-5, atol=1e-5)
    fresh = NonLocal(8)
    x = torch.randn(2, 8, 4, 2)
    torch.testing.assert_close(fresh(x), x)  # zero-initialised output BN: identity


def test_every_parameter_gets_a_gradient():
    model = tiny(layers=(1, 2, 3, 1))
    activate_non_local(model)
    assert [len(nl) for nl in model.non_local_blocks] == [0, 2, 3, 0]
    model.train()
    out = model(images(2), images(2, 1), 0)
    (out.logits.logsumexp(1).mean() + out.feat.square().mean()).backward()
    for name, p in model.named_parameters():
        if name == "bottleneck.bias":
            assert not p.requires_grad and p.grad is None  # BNNeck: frozen shift, as published
            continue
        if name.endswith("out.conv.bias"):
            continue  # a bias right before a train-mode BN: zero gradient in exact arithmetic
        assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0, name


def test_published_initialisation():
    model = AGW(10, base_channels=8, layers=(1, 2, 2, 1))
    assert torch.all(model.bottleneck.bias == 0) and not model.bottleneck.bias.requires_grad
    assert 0.9 < model.bottleneck.weight.mean() < 1.1 and model.bottleneck.weight.std() > 0
    assert model.classifier.bias is None and model.classifier.weight.std() < 0.01
    for nls in model.non_local_blocks:
        for nl in nls:
            assert torch.all(nl.out.bn.weight == 0) and torch.all(nl.out.bn.bias == 0)
            assert nl.g.bias is not None  # the authors' convs keep their biases
    for a, b in zip(model.stem_visible.state_dict().values(), model.stem_infrared.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_save_load_round_trip(tmp_path):
    model = tiny(non_local=True, gem=False)
    activate_non_local(model)
    model.eval()
    path = tmp_path / "agw.safetensors"
    model.save(path)
    again = AGW.from_checkpoint(path)
    assert again.config == model.config
    with torch.no_grad():
        torch.testing.assert_close(again(images(2), None, 1).feat_bn, model(images(2), None, 1).feat_bn)
    DEEN(5, base_channels=4, layers=(1, 1, 1, 1)).save(tmp_path / "deen.safetensors")
    with pytest.raises(CheckpointError, match="holds a DEEN, not a AGW"):
        AGW.from_checkpoint(tmp_path / "deen.safetensors")


def test_load_pretrained_fills_both_stems_and_the_trunk(tmp_path):
    from vireid.utils.io import save_safetensors

    torch.manual_seed(1)
    imagenet = ResNet((1, 1, 1, 1), 4, num_classes=10)
    save_safetensors(imagenet.state_dict(), tmp_path / "r50.safetensors")
    model = tiny()
    model.load_pretrained(tmp_path / "r50.safetensors")
    for stem in (model.stem_visible, model.stem_infrared):
        assert torch.equal(stem.conv1.weight, imagenet.conv1.weight)
    assert torch.equal(model.backbone.layer4[0].conv3.weight, imagenet.layer4[0].conv3.weight)
    with pytest.raises(CheckpointError):
        tiny(base_channels=8).load_pretrained(tmp_path / "r50.safetensors")


def test_embed_with_the_authors_descriptor_is_the_bn_feature():
    model = tiny()
    assert model.eval_defaults == {"flip": False, "combine": "bn"}
    x = images(3)
    desc = model.embed(x, "infrared", **model.eval_defaults)
    with torch.no_grad():
        want = model.eval()(None, x, 2).feat_bn
    torch.testing.assert_close(desc, want)
    assert model.embed(x, "visible").shape == (3, 256)  # default fusion: pool + BN, flipped


def test_ow_modules_cover_stems_and_trunk():
    model = tiny()
    convs = model.ow_modules()
    assert len(convs) == 2 + 4 * 3 + 4  # two stem convs, 3 per bottleneck, 4 downsample convs
    assert all(isinstance(c, torch.nn.Conv2d) for c in convs)


def test_bad_inputs_and_arguments():
    model = tiny()
    with pytest.raises(ShapeError, match="modal"):
        model(images(1), None, 3)
    with pytest.raises(ShapeError, match="x_ir"):
        model(images(1), None, 0)
    with pytest.raises(ShapeError, match="same H x W"):
        model(images(1), images(1, h=96), 0)
    with pytest.raises(ShapeError, match="too small"):
        model(images(1, h=8, w=8), None, 1)
    with pytest.raises(ValueError, match="layers"):
        AGW(5, layers=(3, 4, 6))
    with pytest.raises(ValueError, match="non_local_layers"):
        AGW(5, non_local_layers=(0, -1, 3, 0))
