"""The ViT pretraining stand-in: its file loads into DEEN-ViT as a timm checkpoint, position
embeddings included, and it is cached by its settings."""

from dataclasses import asdict, replace

import pytest
import torch

from benchmarks import vit_pretrain
from benchmarks.vit_pretrain import PretrainSettings, ViTIdentityNet, ensure_pretrained, read_settings
from vireid.errors import ConfigError
from vireid.models import DEENViT
from vireid.utils.io import save_safetensors

TINY = PretrainSettings(
    num_ids=12, images_per_id_per_cam=1, embed_dim=24, depth=2, num_heads=2, epochs=1, num_ids_per_batch=4
)


def test_deen_vit_sees_the_pretraining_features(tmp_path):
    """Pretraining resamples its square position grid to the 2:1 input grid in every forward; DEEN-ViT
    loading the file at that size (expansion, MFA and stage 4 off) computes the same pooled features."""
    torch.manual_seed(0)
    s = TINY
    net = ViTIdentityNet(7, (s.height, s.width), **s.vit_kwargs()).eval()
    assert net.vit.grid_size == (s.pos_grid, s.pos_grid) and net.input_grid == (8, 4)
    with torch.no_grad():
        net.vit.pos_embed.normal_()  # a position grid that is far from constant
    path = tmp_path / "vit.safetensors"
    save_safetensors(net.vit.state_dict(), path)
    deen = DEENViT(
        7,
        vit=dict(embed_dim=s.embed_dim, depth=s.depth, num_heads=s.num_heads, patch_size=s.patch_size),
        img_size=(s.height, s.width),
        stages=(1, 1),
        mfa=False,
        expansion="none",
        stage4_depth=0,
        mfa_pool=(1, 1),
    )
    deen.load_pretrained(path)
    deen.eval()
    x_vis, x_ir = torch.randn(2, 3, s.height, s.width), torch.randn(3, 3, s.height, s.width)
    with torch.no_grad():
        want, _, _ = net.forward_features(x_vis, x_ir)
        got, _, _ = deen.forward_features(x_vis, x_ir)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError):
        net.forward_features(torch.randn(1, 3, 32, 32), None)


def test_ensure_pretrained_trains_once_and_caches(tmp_path, monkeypatch):
    s = replace(TINY, root=str(tmp_path / "synth"))
    out = tmp_path / "pt" / "vit.safetensors"
    lines = []
    path = ensure_pretrained(s, out, threads=1, log=lines.append)
    assert path == out and read_settings(out) == asdict(s)
    assert any("pretraining took" in line for line in lines)
    deen = DEENViT(
        5, vit=dict(embed_dim=24, depth=2, num_heads=2, patch_size=8), img_size=(96, 48), stages=(1, 1), mfa_pool=(1, 2)
    )
    deen.load_pretrained(out)  # another size: pos_embed resampled
    from vireid.utils.io import load_safetensors

    stored = load_safetensors(out)[0]
    assert deen.blocks[1].mlp.fc2.weight.equal(stored["blocks.1.mlp.fc2.weight"])
    assert deen.pos_embed.shape[1] == 1 + (96 // 8) * (48 // 8)

    def fail(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(vit_pretrain, "pretrain", fail)
    before = out.stat().st_mtime_ns
    assert ensure_pretrained(s, out, log=lines.append) == out and out.stat().st_mtime_ns == before
    with pytest.raises(ConfigError, match="other settings"):
        ensure_pretrained(replace(s, epochs=2), out, log=lines.append)
    foreign = tmp_path / "foreign.safetensors"
    save_safetensors({"w": torch.zeros(1)}, foreign)
    with pytest.raises(ConfigError, match="not a vireid ViT pretraining output"):
        ensure_pretrained(s, foreign, log=lines.append)


def test_overrides_are_checked():
    assert vit_pretrain.parse_overrides(["epochs=4", "difficulty=0.2"]) == {"epochs": 4, "difficulty": 0.2}
    with pytest.raises(ConfigError):
        vit_pretrain.parse_overrides(["nope=1"])
    assert vit_pretrain.main(["nope=1"]) == 2
