"""Loading timm checkpoints strictly from a path; pos-embed resampling vs timm."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.models.timm_loading import load_timm_checkpoint
from vireid.errors import CheckpointError
from vireid.models.vit import VisionTransformer
from vireid.models.vit_weights import resample_abs_pos_embed
from vireid.models.weights import load_state_dict_strict
from vireid.utils.io import atomic_torch_save, load_safetensors, save_safetensors

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "vit_timm_golden.safetensors"
TINY = dict(patch_size=8, embed_dim=32, depth=3, num_heads=2)


@pytest.fixture(scope="module")
def golden() -> dict[str, torch.Tensor]:
    return load_safetensors(GOLDEN)[0]


def timm_state(g: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("state.") :]: v for k, v in g.items() if k.startswith("state.")}


def test_resample_same_size_is_unchanged(golden):
    pe = golden["posemb_square"]
    assert resample_abs_pos_embed(pe, (4, 4)) is pe
    assert resample_abs_pos_embed(golden["state.pos_embed"], (4, 2), old_size=(4, 2)) is golden["state.pos_embed"]


@pytest.mark.parametrize(
    "key,src,size,old",
    [
        ("posemb_square_to_6x3", "posemb_square", (6, 3), None),
        ("posemb_square_to_8x8", "posemb_square", (8, 8), None),
        ("posemb_4x2_to_6x3", "state.pos_embed", (6, 3), (4, 2)),
    ],
)
def test_resample_matches_timm_and_keeps_cls(golden, key, src, size, old):
    out = resample_abs_pos_embed(golden[src], size, old_size=old)
    assert out.shape == (1, 1 + size[0] * size[1], 32)
    torch.testing.assert_close(out, golden[key], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out[:, :1], golden[src][:, :1], atol=0, rtol=0)  # cls untouched


def test_resample_rejects_inconsistent_grid():
    with pytest.raises(CheckpointError, match="prefix"):
        resample_abs_pos_embed(torch.zeros(1, 10, 4), (3, 3), old_size=(2, 2))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_load_timm_checkpoint_from_path_with_resize(golden, tmp_path, suffix):
    """The timm-made 32x16 checkpoint loads strictly into a 48x24 model; pos_embed resampled, head dropped."""
    path = tmp_path / f"vit{suffix}"
    sd = timm_state(golden)
    if suffix == ".safetensors":
        save_safetensors(sd, path)
    else:
        atomic_torch_save({"model": sd}, path)  # wrapped dicts are unwrapped
    model = VisionTransformer(img_size=(48, 24), num_classes=0, **TINY)
    load_timm_checkpoint(model, path, old_grid=(4, 2))
    assert model.pos_embed.shape == (1, 1 + 6 * 3, 32)
    torch.testing.assert_close(model.pos_embed.detach(), golden["posemb_4x2_to_6x3"], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(model.blocks[2].mlp.fc2.weight.detach(), sd["blocks.2.mlp.fc2.weight"])
    same = VisionTransformer(img_size=(32, 16), num_classes=3, **TINY)
    load_timm_checkpoint(same, path, old_grid=(4, 2))  # with head: everything, unchanged
    torch.testing.assert_close(same.head.weight.detach(), sd["head.weight"])


def test_wrong_checkpoint_lists_mismatched_keys(golden, tmp_path):
    sd = timm_state(golden)
    sd.pop("blocks.1.norm1.weight")
    sd["blocks.7.attn.qkv.weight"] = torch.zeros(96, 32)
    sd["patch_embed.proj.weight"] = torch.zeros(32, 3, 16, 16)
    path = tmp_path / "bad.safetensors"
    save_safetensors(sd, path)
    model = VisionTransformer(img_size=(32, 16), num_classes=0, **TINY)
    with pytest.raises(CheckpointError) as info:
        load_timm_checkpoint(model, path, old_grid=(4, 2))
    msg = str(info.value)
    assert str(path) in msg and "blocks.1.norm1.weight" in msg and "blocks.7.attn.qkv.weight" in msg
    assert "patch_embed.proj.weight: checkpoint (32, 3, 16, 16) vs model (32, 3, 8, 8)" in msg


def test_load_strict_passes_exact_and_missing_file_is_clear(tmp_path):
    model = VisionTransformer(img_size=(32, 16), num_classes=0, **TINY)
    other = VisionTransformer(img_size=(32, 16), num_classes=0, **TINY)
    load_state_dict_strict(model, other.state_dict())
    torch.testing.assert_close(model.pos_embed, other.pos_embed)
    with pytest.raises(CheckpointError, match="not found"):
        load_timm_checkpoint(model, tmp_path / "missing.safetensors")
