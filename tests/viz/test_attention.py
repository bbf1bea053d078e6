"""Attention pictures: PAM/CAM maps recomputed by hooks, ViT rollout (Abnar & Zuidema 2020), overlays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.inference.tiny import SIZE, tiny_deen
from vireid.errors import VireidError
from vireid.models.abd import CAM, PAM
from vireid.models.vit import Attention
from vireid.viz.attention import (
    attention_maps,
    attention_picture,
    attention_rollout,
    capture_abd_attention,
    capture_vit_attention,
    overlay_heatmap,
)


def test_pam_hook_recovers_the_modules_attention():
    torch.manual_seed(0)
    pam = PAM(16, reduction=4).eval()
    pam.gamma.data.fill_(1.0)
    x = torch.randn(2, 16, 4, 3)
    with capture_abd_attention(pam) as maps:
        out = pam(x)
    # recompute the module's output from the map's source attention: rows softmax(q^T k)
    q = pam.query_conv(x).flatten(2).transpose(1, 2)
    att = torch.softmax(q @ pam.key_conv(x).flatten(2), -1)
    v = pam.value_conv(x).flatten(2)
    assert torch.allclose(out, (v @ att.transpose(1, 2)).reshape_as(x) + x, atol=1e-5)
    ((name, m),) = maps.items()
    assert name.startswith("PAM") and m.shape == (2, 4, 3)
    assert torch.allclose(m, att.mean(1).reshape(2, 4, 3), atol=1e-6)
    assert torch.allclose(m.sum((1, 2)), torch.ones(2), atol=1e-5)  # mean of stochastic rows


def test_cam_map_is_the_energy_of_the_attended_features():
    cam = CAM(8).eval()
    cam.gamma.data.fill_(2.0)
    x = torch.randn(1, 8, 5, 2)
    with capture_abd_attention(cam) as maps:
        out = cam(x)
    ((name, m),) = maps.items()
    attended = (out - x) / 2.0  # gamma * (A X)
    assert name.startswith("CAM") and torch.allclose(m[0], attended[0].norm(dim=0), atol=1e-4)


def test_vit_hook_probabilities_reproduce_sdpa():
    torch.manual_seed(0)
    attn = Attention(16, num_heads=4, qkv_bias=True).eval()
    x = torch.randn(2, 7, 16)
    with capture_vit_attention(attn) as probs:
        out = attn(x)
    (p,) = probs
    assert p.shape == (2, 4, 7, 7) and torch.allclose(p.sum(-1), torch.ones(2, 4, 7), atol=1e-5)
    v = attn.qkv(x).reshape(2, 7, 3, 4, 4).permute(2, 0, 3, 1, 4)[2]
    manual = attn.proj((p @ v).transpose(1, 2).reshape(2, 7, 16))
    assert torch.allclose(manual, out, atol=1e-5)


def test_rollout_math():
    n = 3
    eye = torch.eye(n)
    assert torch.allclose(attention_rollout([eye[None]] * 4).float(), eye)
    a1 = torch.softmax(torch.randn(2, n, n), -1)
    a2 = torch.softmax(torch.randn(2, n, n), -1)
    r = attention_rollout([a1, a2])
    h1, h2 = 0.5 * eye + 0.5 * a1.mean(0), 0.5 * eye + 0.5 * a2.mean(0)
    assert torch.allclose(r.float(), h2 @ h1, atol=1e-6)
    assert torch.allclose(r.sum(-1).float(), torch.ones(n), atol=1e-6)


def test_deen_abd_maps_and_picture(tmp_path):
    model = tiny_deen(0, abd_cam=True, abd_attention_branch=True)
    x = torch.randn(2, 3, *SIZE)
    maps = attention_maps(model, x, "infrared")
    assert sorted(maps) == ["CAM att_cam", "CAM shallow_cam", "PAM att_pam"]
    assert maps["CAM shallow_cam"].shape == (SIZE[0] // 4, SIZE[1] // 4)  # after layer1, as ABD-Net
    layer2 = attention_maps(tiny_deen(0, abd_cam=True, abd_cam_position="layer2"), x, "infrared")
    assert sorted(layer2) == ["CAM abd_cam"] and layer2["CAM abd_cam"].shape == (SIZE[0] // 8, SIZE[1] // 8)
    assert maps["PAM att_pam"].shape == (SIZE[0] // 16, SIZE[1] // 16)  # last stage (stride 16)
    out = attention_picture(model, x[:1], "infrared", tmp_path / "att.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(VireidError, match="no CAM/PAM"):
        attention_maps(tiny_deen(0), x, "visible")
    # the kind asked for is named, and the kind the model has is offered
    with pytest.raises(VireidError, match=r"no ViT attention blocks .*kind 'rollout'; kind 'abd' shows its CAM/PAM"):
        attention_maps(model, x, "visible", kind="rollout")
    with pytest.raises(VireidError, match=r"no ViT attention blocks to visualise \(kind 'rollout'\)$"):
        attention_maps(tiny_deen(0), x, "visible", kind="rollout")


def test_vit_rollout_map_on_deen_vit():
    from vireid.models.deen_vit import DEENViT

    torch.manual_seed(0)
    model = DEENViT(
        4, vit=dict(embed_dim=16, depth=4, num_heads=2, patch_size=8), img_size=(32, 16), stages=(1, 1, 1, 1)
    ).eval()
    ((name, m),) = attention_maps(model, torch.randn(1, 3, 32, 16), "visible").items()
    assert name == "attention rollout" and m.shape == (4, 2)
    assert (m > 0).all() and m.sum() < 1  # the cls row minus its own (positive) share


def test_overlay_colours_the_hot_spot_red():
    img = np.full((40, 20, 3), 128, np.uint8)
    heat = np.zeros((4, 2))
    heat[0, 0] = 1.0
    out = overlay_heatmap(img, heat, alpha=0.6)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert out[0, 0, 0] > out[0, 0, 2] and out[-1, -1, 2] > out[-1, -1, 0]  # jet: hot red, cold blue
    assert (overlay_heatmap(img, np.ones((2, 2)), alpha=0.0) == img).all()
