"""DEENViT: shapes for modal 0/1/2 in train/eval, every variant's gradients, MFA identity, pretrained loading."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vireid.errors import CheckpointError, ConfigError, ShapeError
from vireid.losses.svdo import FeatureOrthogonality, WeightOrthogonality
from vireid.models.base import EvalOutput, TrainOutput
from vireid.models.deen_vit import DEENViT
from vireid.models.token_mfa import TokenNorm
from vireid.models.vit import VisionTransformer
from vireid.models.vit_weights import resample_abs_pos_embed
from vireid.utils.io import save_safetensors

NC, B, C = 5, 2, 32
VIT = dict(embed_dim=C, depth=4, num_heads=2, patch_size=8)


def tiny(**kw) -> DEENViT:
    args = dict(vit=VIT, img_size=(32, 16), stages=(1, 1, 1, 1))
    args.update(kw)
    return DEENViT(NC, **args)


def images(b: int = B, size=(32, 16)) -> torch.Tensor:
    return torch.randn(b, 3, *size)


def wake_mfa(model: DEENViT) -> None:
    """MFA starts as the identity (zero-initialised norms, so zero grads inside); make it active."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, TokenNorm):
                m.norm.weight.normal_(1.0, 0.1)
                m.norm.bias.normal_(0.0, 0.1)


def inputs(modal: int):
    return {0: (images(), images()), 1: (images(), None), 2: (None, images())}[modal]


@pytest.mark.parametrize("expansion,k", [("dee", 2), ("dee1d", 2), ("none", 0)])
def test_shapes_modal_train_eval(expansion, k):
    torch.manual_seed(0)
    model = tiny(expansion=expansion)
    e = 1 + k
    assert model.num_embeddings == e
    for modal, m in ((0, 2 * B), (1, B), (2, B)):
        x_vis, x_ir = inputs(modal)
        out = model.train()(x_vis, x_ir, modal)
        assert isinstance(out, TrainOutput)
        assert out.feat.shape == (e * m, C) and out.logits.shape == (e * m, NC)
        assert ("ort" in out.aux_losses) == (k >= 2)
        expected_modality = {0: [1] * B + [2] * B, 1: [1] * B, 2: [2] * B}[modal]
        assert out.modality.tolist() == expected_modality
        ev = model.eval()(x_vis, x_ir, modal)
        assert isinstance(ev, EvalOutput) and ev.feat.shape == (e * m, C) and ev.feat_bn.shape == (e * m, C)
        torch.testing.assert_close(ev.feat.norm(dim=1), torch.ones(e * m))
    assert model.embed(images(), "infrared").shape == (B, 2 * e * C)


VARIANTS = [
    dict(expansion="dee"),
    dict(expansion="dee1d", mfa_low="previous"),
    dict(expansion="none"),
    dict(expansion="dee", mfa_low="previous", mfa_norm="ln", neck="linear_bn_relu"),
    dict(expansion="dee", stage4_depth=2, pool="both"),
    dict(expansion="dee1d", stage4_depth=3, pool="cls", neck="linear_bn_relu"),
    dict(expansion="dee", mfa=False, stages=(2, 2), mfa_pool=(1, 2)),
    dict(expansion="dee", grad_checkpointing=True, vit={**VIT, "drop_path_rate": 0.1}),
]


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items() if k != "vit"))
def test_every_parameter_gets_a_gradient(kw):
    torch.manual_seed(0)
    model = tiny(**kw).train()
    wake_mfa(model)
    out = model(images(), images(), 0)
    e = model.num_embeddings
    assert out.feat.shape == (e * 2 * B, model.feat_dim)
    loss = out.logits.logsumexp(1).sum() + out.feat.pow(2).sum() + sum(out.aux_losses.values())
    loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert not model.bottleneck.bias.requires_grad if kw.get("neck", "bnneck") == "bnneck" else True


@pytest.mark.parametrize("expansion", ["dee", "dee1d"])
def test_generated_embeddings_differ(expansion):
    torch.manual_seed(0)
    model = tiny(expansion=expansion).eval()
    with torch.no_grad():
        feat = model(images(), None, 1).feat.reshape(3, B, C)
    assert (feat[0] - feat[1]).abs().mean() > 1e-3
    assert (feat[0] - feat[2]).abs().mean() > 1e-3
    assert (feat[1] - feat[2]).abs().mean() > 1e-3


@pytest.mark.parametrize("mfa_low", ["stage0", "previous"])
def test_mfa_starts_as_identity(mfa_low):
    torch.manual_seed(0)
    with_mfa = tiny(mfa_low=mfa_low).eval()
    without = tiny(mfa=False).eval()
    without.load_state_dict(with_mfa.state_dict(), strict=False)
    xv, xi = images(), images()
    with torch.no_grad():
        torch.testing.assert_close(with_mfa(xv, xi, 0).feat, without(xv, xi, 0).feat)
        wake_mfa(with_mfa)
        assert not torch.allclose(with_mfa(xv, xi, 0).feat, without(xv, xi, 0).feat)


def test_mfa_wirings_differ_once_active():
    torch.manual_seed(0)
    a = tiny(mfa_low="stage0").eval()
    wake_mfa(a)
    b = tiny(mfa_low="previous").eval()
    b.load_state_dict(a.state_dict())
    xv = images()
    with torch.no_grad():
        assert not torch.allclose(a(xv, None, 1).feat, b(xv, None, 1).feat)


@pytest.mark.parametrize("size", [(256, 128), (288, 144)])
def test_person_sized_inputs(size):
    model = DEENViT(
        NC, vit=dict(embed_dim=16, depth=4, num_heads=2, patch_size=16), img_size=size, stages=(1, 1, 1, 1)
    ).eval()
    assert model.grid_size == (size[0] // 16, size[1] // 16)
    with torch.no_grad():
        assert model(images(1, size), None, 1).feat.shape == (3, 16)


def timm_checkpoint(tmp_path, depth=4, img=(32, 32)):
    vit = VisionTransformer(img_size=img, num_classes=7, **{**VIT, "depth": depth})
    path = tmp_path / "timm_vit.safetensors"
    save_safetensors(vit.state_dict(), path)
    return vit, path


def test_load_pretrained_initialises_both_patch_embeddings(tmp_path):
    vit, path = timm_checkpoint(tmp_path)  # 4x4 grid checkpoint -> 4x2 model grid
    model = tiny()
    before = model.classifier.weight.detach().clone()
    model.load_pretrained(path)
    for pe in (model.patch_embed_visible, model.patch_embed_infrared):
        torch.testing.assert_close(pe.proj.weight, vit.patch_embed.proj.weight)
        torch.testing.assert_close(pe.proj.bias, vit.patch_embed.proj.bias)
    torch.testing.assert_close(model.blocks[3].attn.qkv.weight, vit.blocks[3].attn.qkv.weight)
    torch.testing.assert_close(model.norm.weight, vit.norm.weight)
    torch.testing.assert_close(model.pos_embed, resample_abs_pos_embed(vit.pos_embed.detach(), (4, 2)))
    torch.testing.assert_close(model.cls_token, vit.cls_token)
    torch.testing.assert_close(model.classifier.weight, before)


def test_load_pretrained_wrong_checkpoint_lists_keys(tmp_path):
    _, path = timm_checkpoint(tmp_path, depth=6)
    with pytest.raises(CheckpointError) as info:
        tiny().load_pretrained(path)
    assert "unexpected keys" in str(info.value) and "blocks.5.mlp.fc2.weight" in str(info.value)
    _, path = timm_checkpoint(tmp_path, depth=3)
    with pytest.raises(CheckpointError, match=r"missing keys \(12\): blocks\.3\."):
        tiny().load_pretrained(path)


def test_svdo_hooks():
    model = tiny(svdo_of_stages=(0, 3, 4), svdo_ow_blocks=(1, 4))
    out = model.train()(images(), images(), 0)
    of = out.of_features
    assert of.shape == (2 * B + 2 * B + 3 * 2 * B, 8, C)  # stages 0 and 3 (M samples), stage 4 (E*M)
    layers = model.ow_modules()
    assert len(layers) == 8 and all(isinstance(m, nn.Linear) for m in layers)
    assert layers[0] is model.blocks[1].attn.qkv and layers[4] is model.stage4[0].attn.qkv
    penalty = FeatureOrthogonality(beta=1e-6)(of) + WeightOrthogonality(include_linear=True)(layers)
    penalty.backward()
    assert model.blocks[1].mlp.fc1.weight.grad is not None and model.stage4[0].attn.proj.weight.grad is not None
    assert tiny().train()(images(), None, 1).of_features is None


@pytest.mark.parametrize("expansion", ["tmhee", "cmatm", "ssdec"])
def test_transformer_expansions_plug_in(expansion):
    """Integration with the other expansion modules: shapes, prefixed aux losses, extras passed through."""
    torch.manual_seed(0)
    model = tiny(expansion=expansion).train()
    out = model(images(), images(), 0)
    assert out.feat.shape == (3 * 2 * B, C) and "ort" in out.aux_losses
    assert any(k.startswith("expansion_") for k in out.aux_losses)
    assert set(out.aux_losses) == set(model.aux_loss_names)
    assert out.branch_embeddings.shape == (2, 2 * B, C)
    assert model.eval()(None, images(), 2).feat.shape == (3 * B, C)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="not divisible by the patch size"):
        tiny(img_size=(30, 16))
    with pytest.raises(ConfigError, match="unknown expansion"):
        tiny(expansion="mhee")
    with pytest.raises(ConfigError, match="sum to the ViT depth"):
        tiny(stages=(3, 3, 3, 3))
    with pytest.raises(ConfigError, match="mfa_pool"):
        tiny(mfa_pool=(1, 2))
    with pytest.raises(ConfigError):
        tiny(neck="bn")
    with pytest.raises(ConfigError, match="unknown keys"):
        tiny(vit={**VIT, "depht": 4})
    model = tiny()
    with pytest.raises(ShapeError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(B, 1, 32, 16), None, 1)
    with pytest.raises(ShapeError, match="built for 32x16"):
        model(images(B, (64, 32)), None, 1)
    with pytest.raises(ShapeError, match="x_ir is required"):
        model(images(), None, 0)
    with pytest.raises(ShapeError, match="modal"):
        model(images(), images(), 3)


def test_production_trunk_equals_timm(tmp_path):
    """DEENViT's own forward (MFA, expansion and stage 4 off), loaded through load_pretrained, reproduces
    timm's ViT on the golden fixture for both modalities and both poolings."""
    from tests.models.test_vit import GOLDEN, timm_state
    from vireid.utils.io import load_safetensors

    g = load_safetensors(GOLDEN)[0]
    path = tmp_path / "timm.safetensors"
    save_safetensors(timm_state(g), path)
    for pool, expected in (("cls", g["forward_features"][:, 0]), ("avg", g["forward_features"][:, 1:].mean(1))):
        model = DEENViT(
            3,
            vit=dict(embed_dim=32, depth=3, num_heads=2, patch_size=8),
            img_size=(32, 16),
            stages=(1, 2),
            mfa=False,
            mfa_pool=(1, 1),
            expansion="none",
            stage4_depth=0,
            pool=pool,
        )
        model.load_pretrained(path)
        model.eval()
        with torch.no_grad():
            for modal, x in ((1, (g["input"], None)), (2, (None, g["input"]))):
                out = model.forward_features(*x, modal)[0]
                torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
