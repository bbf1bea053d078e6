"""Synthetic renderer: identities, poses, material maps, modalities, low light."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vireid.data.synth.camera import make_camera
from vireid.data.synth.identity import PATTERNS, luminance, sample_identity
from vireid.data.synth.render import BG, HAIR, SKIN, UPPER, UPPER2, Pose, material_map, render, sample_pose

SCENE = (100, 90)


def _pose(view="front", h=96, w=48):
    return Pose(height=h, width=w, view=view, facing=1, scale=1.0, dx=0.0, dy=0.0, arm_swing=0.0, stride=0.5)


def test_identity_is_deterministic_and_varied():
    assert sample_identity(0, 5) == sample_identity(0, 5)
    assert sample_identity(0, 5) != sample_identity(1, 5)
    ids = [sample_identity(0, pid) for pid in range(1, 301)]
    assert {i.pattern for i in ids} == set(PATTERNS)
    assert 0.15 < np.mean([i.backpack for i in ids]) < 0.55 and 0.05 < np.mean([i.hat for i in ids]) < 0.4
    for i in ids:  # a pattern is visible in infrared too
        assert abs(i.upper_emis - i.upper2_emis) >= 0.15 - 1e-9
    assert np.mean([abs(luminance(i.upper_rgb) - luminance(i.upper2_rgb)) >= 0.2 for i in ids]) > 0.95


def test_difficulty_decorrelates_colour_and_emissivity():
    def corr(difficulty):
        ids = [sample_identity(0, pid, difficulty) for pid in range(1, 301)]
        return np.corrcoef([luminance(i.upper_rgb) for i in ids], [i.upper_emis for i in ids])[0, 1]

    assert corr(0.0) > 0.95
    assert 0.3 < corr(0.5) < 0.85
    assert abs(corr(1.0)) < 0.2


def test_sample_pose_sizes_and_views():
    rng = np.random.default_rng(0)
    poses = [sample_pose(rng, (96, 160), 0.5) for _ in range(300)]
    heights = [p.height for p in poses]
    assert min(heights) >= 96 and max(heights) <= 160
    assert all(1.7 <= p.height / p.width <= 2.35 for p in poses)
    assert {p.view for p in poses} == {"front", "back", "side"}
    assert {sample_pose(rng, (64, 64), 0.5, ("back",)).view for _ in range(20)} == {"back"}


def test_material_map_views_and_pattern():
    ident = dataclasses.replace(
        sample_identity(0, 1), pattern="hstripes", hat=False, backpack=False, bag=False, long_hair=False
    )
    front, shade, _ = material_map(ident, _pose("front"))
    back, _, _ = material_map(ident, _pose("back"))
    side, _, _ = material_map(ident, _pose("side"))
    assert front.shape == (96, 48) and shade.shape == (96, 48)
    assert (front == BG).mean() > 0.4 and (front == UPPER2).sum() > 20 and (front == UPPER).sum() > 20
    assert (back == SKIN).sum() < (front == SKIN).sum()  # no face from behind
    assert (back == HAIR).sum() > (front == HAIR).sum()
    assert (side != BG).sum() < (front != BG).sum()  # narrower silhouette
    plain = dataclasses.replace(ident, pattern="plain")
    assert (material_map(plain, _pose("front"))[0] == UPPER2).sum() == 0
    logo = dataclasses.replace(ident, pattern="logo")
    assert (material_map(logo, _pose("front"))[0] == UPPER2).sum() > 0
    assert (material_map(logo, _pose("back"))[0] == UPPER2).sum() == 0


def test_render_modalities():
    ident = sample_identity(0, 2)
    vis_cam = make_camera(0, "sysu", 1, "visible", 0.5, SCENE)
    ir_cam = make_camera(0, "sysu", 3, "infrared", 0.5, SCENE)
    vis, info = render(ident, vis_cam, _pose(), np.random.default_rng(1))
    ir, _ = render(ident, ir_cam, _pose(), np.random.default_rng(1))
    assert vis.shape == ir.shape == (96, 48, 3) and vis.dtype == ir.dtype == np.uint8
    assert np.array_equal(ir[..., 0], ir[..., 1]) and np.array_equal(ir[..., 0], ir[..., 2])
    assert np.abs(vis[..., 0].astype(int) - vis[..., 2]).mean() > 3  # visible has colour
    assert not info["low_light"]
    # infrared: skin (face) warmer than the background
    mat, _, _ = material_map(ident, _pose())
    assert ir[..., 0][mat == SKIN].mean() > ir[..., 0][mat == BG].mean() + 40
    again, _ = render(ident, vis_cam, _pose(), np.random.default_rng(1))
    assert np.array_equal(vis, again)


def test_low_light_is_dark_and_noisy():
    ident = sample_identity(0, 3)
    day = make_camera(0, "llcm", 1, "visible", 0.5, SCENE, low_light_prob=0.0)
    night = make_camera(0, "llcm", 1, "visible", 0.5, SCENE, low_light_prob=1.0)
    a, ia = render(ident, day, _pose(), np.random.default_rng(4))
    b, ib = render(ident, night, _pose(), np.random.default_rng(4))
    assert ib["low_light"] and not ia["low_light"]
    assert b.mean() < 0.5 * a.mean()
    # relative noise: high-frequency energy over brightness
    rel = lambda x: np.abs(np.diff(x.astype(np.float32), axis=1)).mean() / (x.mean() + 1)  # noqa: E731
    assert rel(b) > rel(a)


@pytest.mark.parametrize("modality", ["visible", "infrared"])
def test_camera_scenes_differ_between_cameras(modality):
    a = make_camera(0, "sysu", 1, modality, 0.5, SCENE)
    b = make_camera(0, "sysu", 2, modality, 0.5, SCENE)
    assert a.scene.shape[:2] == SCENE and np.abs(a.scene - b.scene).mean() > 0.02
    assert np.array_equal(a.scene, make_camera(0, "sysu", 1, modality, 0.5, SCENE).scene)
    if modality == "infrared":
        assert a.scene.mean() < 0.4  # background is cool


def test_glyph_print_on_front_and_back_only():
    from vireid.data.synth.identity import sample_identity
    from vireid.data.synth.render import PRINT, Pose, material_map

    ident = sample_identity(0, 3)
    assert bin(ident.print_code).count("1") >= 3
    maps = {}
    for view in ("front", "back", "side"):
        pose = Pose(height=128, width=64, view=view, facing=1, scale=1.0, dx=0.0, dy=0.0, arm_swing=0.0, stride=0.5)
        maps[view] = material_map(ident, pose)[0]
    assert (maps["front"] == PRINT).any() and (maps["back"] == PRINT).any()
    assert not (maps["side"] == PRINT).any()
    assert (maps["front"] == PRINT).sum() > 60  # at least 3 cells of a 3x3 glyph at this size
    # identities differ in their glyphs
    assert len({sample_identity(0, pid).print_code for pid in range(40)}) > 30
