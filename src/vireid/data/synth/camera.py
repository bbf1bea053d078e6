"""Synthetic cameras: a fixed background scene per camera plus its illumination / sensor model.

Each camera owns a scene (walls, floor, a few boxes — doors, windows, furniture) rendered once,
larger than any crop; every image of that camera shows a random window of it, so backgrounds
are camera-specific as in real surveillance data.  Visible cameras have a gain and a colour cast
(white-balance error); infrared cameras render a *cool* scene (apparent temperature 0.05–0.35,
with an occasional warm object such as a radiator) with their own gain and offset.
Variation between cameras scales with ``0.5 + difficulty``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

_MODALITY_CODE = {"visible": 0, "infrared": 1}


@dataclass(frozen=True, eq=False)
class Camera:
    """Background scene and sensor parameters of one camera."""

    camid: int
    modality: str  # "visible" | "infrared"
    scene: np.ndarray  # float32, (H, W, 3) visible or (H, W) infrared, values in [0, 1]
    gain: float
    cast: tuple[float, float, float]
    offset: float  # infrared black level
    noise: float  # base Gaussian noise sigma (fraction of full scale)
    blur: float  # weight of the 3-tap [a, 1 - 2a, a] blur, 0 <= a < 1/3
    low_light_prob: float  # probability that a visible image is a low-light (night) capture


def _muted_colour(rng: np.random.Generator) -> np.ndarray:
    h = float(rng.random())
    s = float(rng.uniform(0.05, 0.45))
    v = float(rng.uniform(0.3, 0.9))
    return np.asarray(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32)


def _scene(rng: np.random.Generator, shape: tuple[int, int], modality: str) -> np.ndarray:
    """Walls above a horizon, floor below, 3–6 axis-aligned boxes, a gentle gradient and texture."""
    sh, sw = shape
    y = (np.arange(sh, dtype=np.float32) + 0.5)[:, None] / sh
    x = (np.arange(sw, dtype=np.float32) + 0.5)[None, :] / sw
    horizon = float(rng.uniform(0.55, 0.8))
    channels = 3 if modality == "visible" else 1
    if modality == "visible":
        wall, floor = _muted_colour(rng), _muted_colour(rng) * 0.8
    else:
        wall = np.full(1, rng.uniform(0.1, 0.3), dtype=np.float32)
        floor = np.full(1, rng.uniform(0.08, 0.28), dtype=np.float32)
    img = np.where((y < horizon)[..., None], wall, floor).astype(np.float32)
    img = np.broadcast_to(img, (sh, sw, channels)).copy()
    for _ in range(int(rng.integers(3, 7))):
        y0, x0 = rng.uniform(0.0, 0.85), rng.uniform(-0.1, 0.95)
        y1, x1 = y0 + rng.uniform(0.08, 0.5), x0 + rng.uniform(0.05, 0.4)
        if modality == "visible":
            value = _muted_colour(rng) if rng.random() < 0.7 else rng.uniform(0.1, 1.0, 3).astype(np.float32)
        else:
            warm = rng.random() < 0.15
            value = np.full(1, rng.uniform(0.55, 0.75) if warm else rng.uniform(0.05, 0.35), np.float32)
        ys = slice(int(y0 * sh), int(min(y1, 1.0) * sh))
        xs = slice(int(max(x0, 0.0) * sw), int(min(x1, 1.0) * sw))
        img[ys, xs] = value
    fx, fy, phase = rng.uniform(2, 9), rng.uniform(2, 9), rng.uniform(0, 2 * np.pi)
    texture = 0.04 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    gradient = 1.0 + float(rng.uniform(-0.15, 0.15)) * (y - 0.5)
    img = img * gradient[..., None] + texture[..., None]
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    return img if modality == "visible" else img[..., 0]


def make_camera(
    seed: int,
    layout: str,
    camid: int,
    modality: str,
    difficulty: float,
    scene_shape: tuple[int, int],
    low_light_prob: float = 0.0,
) -> Camera:
    """Deterministic camera ``camid`` of ``layout`` for ``seed`` (same inputs -> same camera)."""
    layout_code = sum(ord(c) for c in layout)
    rng = np.random.default_rng(
        np.random.SeedSequence([int(seed), 2, layout_code, int(camid), _MODALITY_CODE[modality]])
    )
    spread = 0.5 + float(difficulty)
    scene = _scene(rng, scene_shape, modality)
    if modality == "visible":
        gain = 1.0 + float(rng.uniform(-0.15, 0.15)) * spread
        cast = tuple(float(c) for c in 1.0 + rng.uniform(-0.1, 0.1, 3) * spread)
        offset, blur = 0.0, float(rng.uniform(0.05, 0.2))
        noise = float(rng.uniform(0.01, 0.025))
    else:
        gain = 1.0 + float(rng.uniform(-0.15, 0.15)) * spread
        cast = (1.0, 1.0, 1.0)
        offset, blur = float(rng.uniform(0.0, 0.12)), float(rng.uniform(0.15, 0.3))
        noise = float(rng.uniform(0.015, 0.03))
    return Camera(
        camid=int(camid),
        modality=modality,
        scene=scene,
        gain=gain,
        cast=cast,
        offset=offset,
        noise=noise,
        blur=blur,
        low_light_prob=float(low_light_prob),
    )
