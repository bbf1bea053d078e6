"""Synthetic identities: body, clothing colours *and* thermal emissivities, pattern, accessories.

An identity is a frozen bundle of attributes sampled once from a numpy Generator derived from
``(seed, pid)``.  Cross-modal identity cues are the body shape, the pattern and its
frequency, the accessories and the emissivities; colours are visible-only.

Design choices:

* Emissivities live in [0.15, 0.75] (normalised apparent temperature); skin is warm (0.80–0.95).
* ``difficulty`` controls colour/emissivity *decorrelation* ``rho = difficulty``:
  ``emis = (1 - rho) * emis_from_luminance + rho * emis_independent`` where the independent draw
  is the identity's own thermal emissivity.  At 1 colour says nothing about the infrared
  appearance; at the default 0.5 a garment's visible brightness and its emissivity are
  partially related (correlation about 0.7, as cloth material links both in reality), which
  keeps the cross-modal task learnable from few identities, while a colour *histogram* still
  cannot match a grey infrared crop to a colour crop (checked by the baseline test).
* Every garment carries a *print*: a 3x3 binary glyph (at least 3 of 9 cells set, 503
  codes) on the front and back of the torso, like a team number or a logo, drawn with a tone
  that contrasts with the garment in luminance *and* in emissivity.  It is the strongest
  cross-modal cue (shape, not colour), standing in for the distinctive clothing details that
  real VI-ReID models learn; side views hide it.  Without it, few training identities at
  64-128 px did not give a small CNN enough modality-invariant signal (benchmarks/RESULTS.md,
  "Design measurements").
* A pattern's second tone differs from the base by at least 0.15 in emissivity and (almost
  always) by at least 0.2 in luminance, so that stripes, checks and logos are visible in
  infrared and in grey-converted visible images alike: the pattern is a cross-modal cue.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

PATTERNS: tuple[str, ...] = ("plain", "hstripes", "vstripes", "checks", "logo")


@dataclass(frozen=True)
class Identity:
    """Appearance of one synthetic person (colours RGB in [0, 1], emissivities in [0, 1])."""

    pid: int
    gender: str
    height: float  # person height as a fraction of the image height
    build: float  # width multiplier
    leg_ratio: float  # legs (hip to sole) as a fraction of the body height
    head_scale: float
    skin_rgb: tuple[float, float, float]
    skin_emis: float
    hair_rgb: tuple[float, float, float]
    hair_emis: float
    long_hair: bool
    upper_rgb: tuple[float, float, float]
    upper_emis: float
    upper2_rgb: tuple[float, float, float]
    upper2_emis: float
    short_sleeves: bool
    pattern: str
    pattern_freq: float  # stripes (or checks) per torso height / width
    lower_rgb: tuple[float, float, float]
    lower_emis: float
    shorts: bool
    shoe_rgb: tuple[float, float, float]
    shoe_emis: float
    backpack: bool
    backpack_rgb: tuple[float, float, float]
    backpack_emis: float
    bag: bool
    bag_side: int  # +1 right hand, -1 left hand (front view)
    bag_rgb: tuple[float, float, float]
    bag_emis: float
    hat: bool
    hat_rgb: tuple[float, float, float]
    hat_emis: float
    print_code: int = 0  # 3x3 binary glyph printed on the torso (bit k = cell k, row-major)
    print_rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    print_emis: float = 0.5


def decorrelation(difficulty: float) -> float:
    """Weight of the independent emissivity draw: ``difficulty`` (clipped to [0, 1])."""
    return float(min(1.0, max(0.0, difficulty)))


def luminance(rgb: tuple[float, float, float]) -> float:
    """Rec. 601 luma of an RGB triple in [0, 1]."""
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def clothing_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """A plausible clothing colour: 35 % achromatic (black/grey/white), else saturated hues."""
    if rng.random() < 0.35:
        v = float(rng.choice([0.08, 0.2, 0.35, 0.55, 0.75, 0.92])) + float(rng.uniform(-0.04, 0.04))
        return (v, v, v)
    h = float(rng.random())
    s = float(rng.uniform(0.35, 0.95))
    v = float(rng.uniform(0.25, 0.95))
    return colorsys.hsv_to_rgb(h, s, v)


def _emissivity(rng: np.random.Generator, rgb: tuple[float, float, float], rho: float) -> float:
    correlated = 0.15 + 0.6 * luminance(rgb)
    independent = float(rng.uniform(0.15, 0.75))
    return float((1.0 - rho) * correlated + rho * independent)


def _second_tone(rng: np.random.Generator, emis: float) -> float:
    delta = float(rng.uniform(0.15, 0.35))
    coin = bool(rng.random() < 0.5)
    if emis - delta < 0.1:
        up = True
    elif emis + delta > 0.85:
        up = False
    else:
        up = coin
    return float(np.clip(emis + delta if up else emis - delta, 0.05, 0.85))


def sample_identity(seed: int, pid: int, difficulty: float = 0.5) -> Identity:
    """Deterministic identity ``pid`` for ``seed`` (independent of layout and camera)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1, int(pid)]))
    rho = decorrelation(difficulty)
    skin_tone = float(rng.uniform(0.0, 1.0))
    skin = (0.95 - 0.55 * skin_tone, 0.78 - 0.5 * skin_tone, 0.68 - 0.45 * skin_tone)
    hair_v = float(rng.uniform(0.05, 0.6))
    hair = (hair_v, hair_v * 0.8, hair_v * 0.6)
    upper = clothing_colour(rng)
    upper_emis = _emissivity(rng, upper, rho)
    upper2 = clothing_colour(rng)
    for _ in range(8):  # the pattern tone also contrasts in brightness, so grey images show it
        if abs(luminance(upper2) - luminance(upper)) >= 0.2:
            break
        upper2 = clothing_colour(rng)
    lower = clothing_colour(rng)
    shoe_v = float(rng.uniform(0.05, 0.9))
    backpack_rgb = clothing_colour(rng)
    bag_rgb = clothing_colour(rng)
    hat_rgb = clothing_colour(rng)
    print_rgb = clothing_colour(rng)
    for _ in range(8):
        if abs(luminance(print_rgb) - luminance(upper)) >= 0.3:
            break
        print_rgb = clothing_colour(rng)
    code = 0
    while bin(code).count("1") < 3:
        code = int(rng.integers(0, 512))
    return Identity(
        pid=int(pid),
        gender="female" if rng.random() < 0.5 else "male",
        height=float(rng.uniform(0.78, 0.93)),
        build=float(rng.uniform(0.8, 1.25)),
        leg_ratio=float(rng.uniform(0.42, 0.54)),
        head_scale=float(rng.uniform(0.85, 1.15)),
        skin_rgb=skin,
        skin_emis=float(rng.uniform(0.8, 0.95)),
        hair_rgb=hair,
        hair_emis=float(rng.uniform(0.5, 0.65)),
        long_hair=bool(rng.random() < 0.35),
        upper_rgb=upper,
        upper_emis=upper_emis,
        upper2_rgb=upper2,
        upper2_emis=_second_tone(rng, upper_emis),
        short_sleeves=bool(rng.random() < 0.4),
        pattern=str(PATTERNS[int(rng.integers(len(PATTERNS)))]),
        pattern_freq=float(rng.uniform(2.0, 5.5)),
        lower_rgb=lower,
        lower_emis=_emissivity(rng, lower, rho),
        shorts=bool(rng.random() < 0.25),
        shoe_rgb=(shoe_v, shoe_v, shoe_v),
        shoe_emis=float(rng.uniform(0.2, 0.4)),
        backpack=bool(rng.random() < 0.35),
        backpack_rgb=backpack_rgb,
        backpack_emis=_emissivity(rng, backpack_rgb, rho) * 0.7,
        bag=bool(rng.random() < 0.3),
        bag_side=1 if rng.random() < 0.5 else -1,
        bag_rgb=bag_rgb,
        bag_emis=_emissivity(rng, bag_rgb, rho) * 0.6,
        hat=bool(rng.random() < 0.2),
        hat_rgb=hat_rgb,
        hat_emis=_emissivity(rng, hat_rgb, rho),
        print_code=code,
        print_rgb=print_rgb,
        print_emis=float(np.clip(upper_emis + (0.3 if upper_emis < 0.45 else -0.3), 0.05, 0.9)),
    )
