"""VisionTransformer: timm golden parity, timm state-dict names, presets, patch stride, bad inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vireid.errors import ConfigError, ShapeError
from vireid.models import vit as vit_mod
from vireid.models.vit import PatchEmbed, VisionTransformer
from vireid.utils.io import load_safetensors

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "vit_timm_golden.safetensors"
TINY = dict(img_size=(32, 16), patch_size=8, embed_dim=32, depth=3, num_heads=2)


def golden() -> dict[str, torch.Tensor]:
    return load_safetensors(GOLDEN)[0]


def timm_state(g: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("state.") :]: v for k, v in g.items() if k.startswith("state.")}


def expected_timm_keys(depth: int, head: bool) -> list[str]:
    """timm ViT state-dict names, written from the architecture (not from our module)."""
    keys = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    for i in range(depth):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys += [f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"]
    keys += ["norm.weight", "norm.bias"]
    if head:
        keys += ["head.weight", "head.bias"]
    return keys


def test_timm_golden_parity():
    """forward_features / logits equal timm 1.0.31's for the same weights and input (fixture from timm itself)."""
    g = golden()
    model = VisionTransformer(**TINY, num_classes=3).eval()
    model.load_state_dict(timm_state(g), strict=True)
    with torch.no_grad():
        feats = model.forward_features(g["input"])
        logits = model.forward_head(feats)
    assert feats.shape == (2, 1 + 4 * 2, 32)
    torch.testing.assert_close(feats, g["forward_features"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, g["logits"], atol=1e-5, rtol=1e-5)


def test_state_dict_names_and_shapes_are_timms():
    model = VisionTransformer(**TINY, num_classes=3)
    sd = model.state_dict()
    assert list(sd) == expected_timm_keys(3, head=True)
    g = timm_state(golden())
    assert {k: tuple(v.shape) for k, v in sd.items()} == {k: tuple(v.shape) for k, v in g.items()}
    headless = VisionTransformer(**TINY, num_classes=0)
    assert list(headless.state_dict()) == expected_timm_keys(3, head=False)
    assert sd["blocks.0.attn.qkv.weight"].shape == (3 * 32, 32)
    assert sd["pos_embed"].shape == (1, 1 + 8, 32)


@pytest.mark.parametrize(
    "name,params",
    [
        ("vit_tiny_patch16_224", 5_717_416),
        ("vit_small_patch16_384", 22_196_584),
        ("vit_base_patch16_224", 86_567_656),
        ("vit_base_patch16_384", 86_859_496),
    ],
)
def test_presets_match_timm_parameter_counts(name, params):
    _, size, _, img = name.split("_")  # timm's name: vit_<size>_patch16_<img_size>
    with torch.device("meta"):
        model = VisionTransformer(**vit_mod.vit_kwargs(size), img_size=int(img))
    assert sum(p.numel() for p in model.parameters()) == params  # counts of timm 1.0.31's models


def test_global_pool_avg_moves_norm_after_pooling_as_timm():
    model = VisionTransformer(**TINY, num_classes=0, global_pool="avg").eval()
    assert isinstance(model.norm, torch.nn.Identity) and "fc_norm.weight" in model.state_dict()
    x = torch.randn(2, 3, 32, 16)
    with torch.no_grad():
        tokens = model.forward_features(x)
        out = model(x)
    torch.testing.assert_close(out, model.fc_norm(tokens[:, 1:].mean(1)))


def test_overlapping_patch_stride_grid():
    pe = PatchEmbed(img_size=(32, 16), patch_size=8, embed_dim=4, stride=4)
    assert pe.grid_size == (7, 3) and pe.num_patches == 21
    assert pe(torch.randn(1, 3, 32, 16)).shape == (1, 21, 4)
    model = VisionTransformer(**TINY, num_classes=0, patch_stride=4)
    assert model.pos_embed.shape == (1, 22, 32)
    assert model.forward_features(torch.randn(1, 3, 32, 16)).shape == (1, 22, 32)


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    model = VisionTransformer(**TINY, num_classes=3, drop_path_rate=0.0)
    x = torch.randn(2, 3, 32, 16)
    model(x).sum().backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref[n], msg=n)


def test_drop_path_is_random_in_training_and_off_in_eval():
    model = VisionTransformer(**TINY, num_classes=0, drop_path_rate=0.5)
    assert model.blocks[0].drop_path1.__class__.__name__ == "Identity"  # rate 0 for the first block
    assert model.blocks[-1].drop_path1.p == pytest.approx(0.5)
    x = torch.randn(8, 3, 32, 16)
    torch.manual_seed(0)
    a = model.forward_features(x)
    b = model.forward_features(x)
    assert not torch.allclose(a, b)
    model.eval()
    torch.testing.assert_close(model.forward_features(x), model.forward_features(x))


def test_bad_inputs():
    with pytest.raises(ConfigError, match="not divisible by the patch size"):
        VisionTransformer(img_size=(30, 16), patch_size=8, embed_dim=32, depth=1, num_heads=2)
    with pytest.raises(ConfigError, match="num_heads"):
        VisionTransformer(img_size=(32, 16), patch_size=8, embed_dim=30, depth=1, num_heads=4)
    model = VisionTransformer(**TINY, num_classes=0)
    with pytest.raises(ShapeError, match=r"expected images \(B, 3, 32, 16\)"):
        model(torch.randn(1, 1, 32, 16))
    with pytest.raises(ShapeError):
        model(torch.randn(1, 3, 64, 16))
    with pytest.raises(ConfigError):
        vit_mod.vit_kwargs("huge")
