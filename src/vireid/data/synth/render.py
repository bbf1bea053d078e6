"""Vectorised rendering of one synthetic pedestrian crop (visible or infrared).

The person is drawn as a *material map* (one small integer per pixel: background, skin, hair,
upper garment, its pattern tone, lower garment, shoes, backpack, bag, hat, occluder) built from
ellipses and rectangles on broadcast coordinate grids — no per-pixel Python.  A modality then
maps materials through a lookup table: RGB colours for visible, emissivities (apparent
temperature; skin warm, background cool) for infrared, replicated to three equal channels.

Body coordinates are normalised by the person height ``ph``: ``v = (y - top) / ph`` runs from
the top of the head (0) to the soles (1), ``u = (x - cx) / ph`` is the signed horizontal offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vireid.data.synth.camera import Camera
from vireid.data.synth.identity import Identity

(BG, SKIN, HAIR, UPPER, UPPER2, LOWER, SHOE, BACKPACK, BAG, HAT, OCC, PRINT) = range(12)
VIEWPOINTS: tuple[str, ...] = ("front", "back", "side")


@dataclass(frozen=True)
class Pose:
    """Per-image geometry: crop size, viewpoint and placement jitter (shared by RegDB pairs)."""

    height: int
    width: int
    view: str  # "front" | "back" | "side"
    facing: int  # +1 / -1: direction a side view faces
    scale: float  # multiplies the identity's height fraction
    dx: float  # horizontal shift, fraction of the width
    dy: float  # vertical placement in [-0.5, 0.5] of the free space
    arm_swing: float
    stride: float


def sample_pose(
    rng: np.random.Generator, height_range: tuple[int, int], difficulty: float, viewpoints: tuple[str, ...] = VIEWPOINTS
) -> Pose:
    """Crop size (height:width about 2:1), viewpoint and jitter scaled by ``difficulty``."""
    h = int(rng.integers(height_range[0], height_range[1] + 1))
    aspect = float(rng.uniform(1.8, 2.25))
    jit = 0.3 + 1.4 * float(difficulty)  # 1.0 at the default difficulty
    return Pose(
        height=h,
        width=max(8, int(round(h / aspect))),
        view=str(viewpoints[int(rng.integers(len(viewpoints)))]),
        facing=1 if rng.random() < 0.5 else -1,
        scale=float(1.0 + rng.uniform(-0.07, 0.07) * jit),
        dx=float(rng.uniform(-0.06, 0.06) * jit),
        dy=float(rng.uniform(-0.35, 0.35)),
        arm_swing=float(rng.uniform(-1.0, 1.0)),
        stride=float(rng.uniform(0.0, 1.0)),
    )


class _Canvas:
    """Material map with painting helpers in body coordinates."""

    def __init__(self, pose: Pose, person_height: float, top: float, cx: float):
        self.h, self.w, self.ph, self.top, self.cx = pose.height, pose.width, person_height, top, cx
        self.mat = np.zeros((self.h, self.w), dtype=np.uint8)
        self.v = ((np.arange(self.h, dtype=np.float32) + 0.5 - top) / person_height)[:, None]
        self.u = ((np.arange(self.w, dtype=np.float32) + 0.5 - cx) / person_height)[None, :]

    def _rows(self, v0: float, v1: float) -> slice:
        return slice(
            min(max(round(self.top + v0 * self.ph), 0), self.h), min(max(round(self.top + v1 * self.ph), 0), self.h)
        )

    def _cols(self, u0: float, u1: float) -> slice:
        return slice(
            min(max(round(self.cx + u0 * self.ph), 0), self.w), min(max(round(self.cx + u1 * self.ph), 0), self.w)
        )

    def rect(self, v0: float, v1: float, u0: float, u1: float, material: int) -> None:
        self.mat[self._rows(v0, v1), self._cols(u0, u1)] = material

    def ellipse_mask(self, vc: float, uc: float, rv: float, ru: float) -> np.ndarray:
        return ((self.v - vc) / rv) ** 2 + ((self.u - uc) / ru) ** 2 <= 1.0

    def paint(self, mask: np.ndarray, material: int) -> None:
        self.mat[mask] = material


def material_map(ident: Identity, pose: Pose) -> tuple[np.ndarray, np.ndarray, float]:
    """(material map uint8 (H, W), shading float32 (H, W), torso half-width in pixels)."""
    h = pose.height
    ph = min(ident.height * pose.scale, 0.97) * h
    top = (h - ph) * (0.5 + pose.dy)
    cx = pose.width / 2 + pose.dx * pose.width
    c = _Canvas(pose, ph, top, cx)
    u, v = c.u, c.v
    side = pose.view == "side"
    back = pose.view == "back"
    f = pose.facing
    tw = 0.12 * ident.build * (0.62 if side else 1.0)  # torso half-width
    t0, t_bot = 0.15, 1.0 - ident.leg_ratio  # torso top / hip line
    leg_len = 0.965 - t_bot
    lw = 0.045 * ident.build
    hry, hrx = 0.062 * ident.head_scale, (0.055 if side else 0.05) * ident.head_scale
    hv, hu = 0.075, (0.012 * f if side else 0.0)

    if ident.backpack and side:  # behind the body
        c.rect(0.18, 0.44, *sorted((-f * (tw + 0.075), -f * (tw - 0.01))), BACKPACK)
    # legs (trousers or shorts), shoes, hips
    lower_to = t_bot + (0.35 * leg_len if ident.shorts else leg_len)
    if side:
        centres = (f * 0.07 * pose.stride, -f * 0.07 * pose.stride)
    else:
        centres = (-(lw + 0.006), lw + 0.006)
    taper = 1.0 - 0.25 * np.clip((v - t_bot) / leg_len, 0.0, 1.0)
    for lc in centres:
        leg = (np.abs(u - lc) <= lw * taper) & (v >= t_bot) & (v < 0.965)
        c.paint(leg & (v < lower_to), LOWER)
        c.paint(leg & (v >= lower_to), SKIN)
        toe = 0.03 * f if side else 0.0
        c.rect(0.955, 0.995, lc - lw * 0.85 + min(toe, 0), lc + lw * 0.85 + max(toe, 0), SHOE)
    c.rect(t_bot - 0.03, t_bot + 0.06, -tw * 0.92, tw * 0.92, LOWER)
    # torso with a slight taper and rounded shoulders
    t_taper = tw * (1.0 - 0.12 * np.clip((v - t0) / (t_bot - t0), 0.0, 1.0))
    torso = ((np.abs(u) <= t_taper) & (v >= t0 + 0.035) & (v <= t_bot)) | c.ellipse_mask(t0 + 0.04, 0.0, 0.045, tw)
    c.paint(torso, UPPER)
    # arms: long sleeves are UPPER to the wrist, short sleeves turn to skin at the elbow
    aw, a0, a1 = 0.03 * ident.build, t0 + 0.01, t0 + 0.37
    sleeve_end = a0 + (0.31 if not ident.short_sleeves else 0.12)
    arm_centres = [f * 0.05 * pose.arm_swing] if side else [-(tw + aw * 0.9), tw + aw * 0.9]
    for ac in arm_centres:
        c.rect(a0, sleeve_end, ac - aw, ac + aw, UPPER)
        c.rect(sleeve_end, a1, ac - aw * 0.85, ac + aw * 0.85, SKIN)
    # pattern on the upper garment (torso and sleeves)
    ty = (v - t0) / (t_bot - t0)
    tx = u / (2 * tw)
    phase = 2 * np.pi * ident.pattern_freq
    pat = None
    if ident.pattern == "hstripes":
        pat = np.broadcast_to(np.sin(phase * ty) > 0, c.mat.shape)
    elif ident.pattern == "vstripes":
        pat = np.broadcast_to(np.sin(phase * tx) > 0, c.mat.shape)
    elif ident.pattern == "checks":
        pat = (np.sin(phase * ty) * np.sin(phase * tx)) > 0
    if pat is not None:
        c.paint(pat & (c.mat == UPPER), UPPER2)
    elif ident.pattern == "logo" and pose.view == "front":
        c.rect(t0 + 0.12 * (t_bot - t0), t0 + 0.42 * (t_bot - t0), -tw * 0.42, tw * 0.42, UPPER2)
    if ident.print_code and not side:  # the identity's glyph, front and back (mirrored on the back)
        va, vb = t0 + 0.14 * (t_bot - t0), t0 + 0.66 * (t_bot - t0)
        ua, ub = -0.66 * tw, 0.66 * tw
        for k in range(9):
            if ident.print_code >> k & 1:
                r, col = divmod(k, 3)
                col = 2 - col if back else col
                c.rect(
                    va + (vb - va) * r / 3,
                    va + (vb - va) * (r + 1) / 3,
                    ua + (ub - ua) * col / 3,
                    ua + (ub - ua) * (col + 1) / 3,
                    PRINT,
                )
    # neck, head, hair
    c.rect(0.12, t0 + 0.01, hu - 0.022, hu + 0.022, SKIN)
    head = c.ellipse_mask(hv, hu, hry, hrx)
    c.paint(head, SKIN)
    if back:
        c.paint(head, HAIR)
    elif side:
        c.paint(head & ((u - hu) * f < -0.2 * hrx), HAIR)
        c.paint(head & (v < hv - 0.3 * hry), HAIR)
    else:
        c.paint(head & (v < hv - 0.3 * hry), HAIR)
    if ident.long_hair:
        if back:
            c.rect(hv, 0.27, -hrx * 1.05, hrx * 1.05, HAIR)
        elif side:
            c.rect(hv, 0.25, *sorted((hu - f * hrx * 1.1, hu - f * hrx * 0.3)), HAIR)
        else:
            c.rect(hv, 0.24, -hrx * 1.15, -hrx * 0.72, HAIR)
            c.rect(hv, 0.24, hrx * 0.72, hrx * 1.15, HAIR)
    # accessories over the body
    if ident.backpack and back:
        c.rect(0.18, 0.18 + 0.6 * (t_bot - 0.18), -tw * 0.75, tw * 0.75, BACKPACK)
    elif ident.backpack and not side:
        for s in (-1, 1):
            c.rect(t0, t0 + 0.17, s * tw * 0.55 - 0.012, s * tw * 0.55 + 0.012, BACKPACK)
    if ident.bag:
        s = -ident.bag_side if back else ident.bag_side
        bu = -0.02 * f if side else s * (tw + 0.06)
        c.rect(t_bot - 0.07, t_bot + 0.1, bu - 0.05, bu + 0.05, BAG)
        strap_u = bu + (np.clip((v - t0) / (t_bot - 0.07 - t0), 0, 1) - 1.0) * (bu + s * tw * 0.3)
        c.paint((np.abs(u - strap_u) <= 0.008) & (v >= t0) & (v < t_bot - 0.07), BAG)
    if ident.hat:
        c.paint(head & (v < hv - 0.35 * hry), HAT)
        brim_l = hu - hrx * (0.9 if side and f > 0 else 1.3)
        brim_r = hu + hrx * (0.9 if side and f < 0 else 1.3)
        c.rect(hv - 0.45 * hry, hv - 0.3 * hry, brim_l, brim_r, HAT)
    shade = (1.04 - 0.08 * v) * (1.0 - 0.3 * np.clip((u / (tw * 1.6)) ** 2, 0.0, 1.0))
    return c.mat, shade.astype(np.float32), tw * ph


def add_occluder(mat: np.ndarray, rng: np.random.Generator) -> None:
    """Paint a box rising from the bottom (bench, car) or a vertical pole, in place."""
    h, w = mat.shape
    if rng.random() < 0.5:
        y0 = int(h * (1.0 - rng.uniform(0.15, 0.35)))
        x0 = int(w * rng.uniform(-0.3, 0.5))
        mat[y0:, max(x0, 0) : max(x0 + int(w * rng.uniform(0.5, 1.2)), 0)] = OCC
    else:
        pw = max(2, int(w * rng.uniform(0.1, 0.25)))
        x0 = int(rng.integers(0, max(1, w - pw)))
        mat[:, x0 : x0 + pw] = OCC


def _blur(img: np.ndarray, a: float) -> np.ndarray:
    """Separable 3-tap blur ``[a, 1 - 2a, a]`` with edge replication (vectorised)."""
    if a <= 0:
        return img
    out = img * (1 - 2 * a)
    out[1:] += a * img[:-1]
    out[:-1] += a * img[1:]
    out[0] += a * img[0]
    out[-1] += a * img[-1]
    tmp = out
    out = tmp * (1 - 2 * a)
    out[:, 1:] += a * tmp[:, :-1]
    out[:, :-1] += a * tmp[:, 1:]
    out[:, 0] += a * tmp[:, 0]
    out[:, -1] += a * tmp[:, -1]
    return out


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)


def render(
    ident: Identity, camera: Camera, pose: Pose, rng: np.random.Generator, difficulty: float = 0.5
) -> tuple[np.ndarray, dict]:
    """Render one crop; returns (uint8 array (H, W, 3), info) where info records low light / occluder.

    ``rng`` drives everything photographic (background window, illumination jitter, occluder,
    low light, noise); geometry comes from ``pose``.  Infrared output has R == G == B.
    """
    mat, shade, _ = material_map(ident, pose)
    h, w = mat.shape
    spread = 0.5 + float(difficulty)
    sh, sw = camera.scene.shape[:2]
    oy = int(rng.integers(0, sh - h + 1))
    ox = int(rng.integers(0, sw - w + 1))
    bg = camera.scene[oy : oy + h, ox : ox + w]
    occluded = bool(rng.random() < 0.3 * difficulty)
    if occluded:
        add_occluder(mat, rng)
    occ_value = rng.uniform(0.1, 0.8, 3).astype(np.float32)
    occ_emis = float(rng.uniform(0.1, 0.45))
    fg = mat > 0
    info = {"view": pose.view, "occluded": occluded, "low_light": False}
    if camera.modality == "visible":
        lut = np.array(
            [
                (0, 0, 0),
                ident.skin_rgb,
                ident.hair_rgb,
                ident.upper_rgb,
                ident.upper2_rgb,
                ident.lower_rgb,
                ident.shoe_rgb,
                ident.backpack_rgb,
                ident.bag_rgb,
                ident.hat_rgb,
                occ_value,
                ident.print_rgb,
            ],
            dtype=np.float32,
        )
        img = np.where(fg[..., None], lut[mat] * shade[..., None], bg)
        gain = camera.gain * (1.0 + float(rng.uniform(-0.08, 0.08)) * spread)
        cast = np.asarray(camera.cast, np.float32) * (1.0 + rng.uniform(-0.03, 0.03, 3).astype(np.float32) * spread)
        sigma = camera.noise * spread
        if rng.random() < camera.low_light_prob:
            info["low_light"] = True
            gain *= float(rng.uniform(0.12, 0.3))
            cast = cast * np.array([0.85, 0.92, 1.15], np.float32)
            sigma += float(rng.uniform(0.03, 0.06))
        img = _blur(img * (gain * cast), camera.blur)
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma)
        return _to_uint8(img), info
    lut_ir = np.array(
        [
            0.0,
            ident.skin_emis,
            ident.hair_emis,
            ident.upper_emis,
            ident.upper2_emis,
            ident.lower_emis,
            ident.shoe_emis,
            ident.backpack_emis,
            ident.bag_emis,
            ident.hat_emis,
            occ_emis,
            ident.print_emis,
        ],
        dtype=np.float32,
    )
    val = np.where(fg, lut_ir[mat] * (0.85 + 0.15 * shade), bg)
    gain = camera.gain * (1.0 + float(rng.uniform(-0.1, 0.1)) * spread)
    offset = camera.offset + float(rng.uniform(-0.04, 0.04)) * spread
    img = _blur(offset + gain * val, camera.blur)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(camera.noise * spread)
    grey = _to_uint8(img)
    return np.repeat(grey[..., None], 3, axis=2), info
