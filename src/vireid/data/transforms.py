"""Training and test augmentations on uint8 arrays, in plain numpy/torch (no torchvision).

DEEN's training transform (``DEEN/train.py``) is, after resizing every image to
the input size at load time with PIL's Lanczos filter::

    Pad(10) -> RandomGrayscale(p=0.5) -> RandomCrop((H, W)) -> RandomHorizontalFlip()
    -> ToTensor() -> Normalize(ImageNet) -> RandomErasing(p=0.5, sl, sh, r1=0.3, mean=ImageNet mean)

with ``(sl, sh) = (0.2, 0.8)`` on SYSU-MM01 and ``(0.02, 0.4)`` on RegDB and
LLCM (:data:`ERASING_PRESETS`).  We do the same operations without building a
PIL image per step: the pad + crop is one copy of the overlapping window, the
flip a reversed slice, the greyscale PIL's own ``convert("L")`` on the crop
(per pixel, so the same pixels as before the crop), and ``ToTensor`` +
``Normalize`` a 256-entry table lookup per channel.  Single-channel (infrared)
images may stay ``(H, W)`` until that lookup writes them into three channels.

Quirks of the recipe kept on purpose: random erasing runs *after*
normalisation and fills with the ImageNet mean values themselves (about 0.45 in
normalised units, not 0), as in the authors' ``random_erasing.py``; the CAJ
channel augmentation (Ye et al., ICCV 2021, ``ChannelExchange`` /
``ChannelAdapGray``) also acts on normalised tensors.

Every random decision is drawn from an explicit :class:`numpy.random.Generator`,
so a sample is a pure function of the image and the generator's seed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Sequence

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _ErasingPresets(Mapping):
    """Random erasing ``(sl, sh, r1)`` of the authors' recipe per dataset, as each dataset class
    declares it (``recipe``, :mod:`vireid.data.datasets.base`; DEEN/train.py for SYSU-MM01, RegDB
    and LLCM)."""

    def _recipes(self) -> dict[str, Mapping]:
        from vireid.data.datasets import DATASETS

        return {e.name: e.obj.recipe for e in DATASETS.entries() if "erasing_area" in e.obj.recipe}

    def __getitem__(self, name: str) -> tuple[float, float, float]:
        recipe = self._recipes()[name]
        sl, sh = recipe["erasing_area"]
        return float(sl), float(sh), float(recipe.get("erasing_ratio", 0.3))

    def __iter__(self) -> Iterator[str]:
        return iter(self._recipes())

    def __len__(self) -> int:
        return len(self._recipes())


ERASING_PRESETS: Mapping[str, tuple[float, float, float]] = _ErasingPresets()
CHANNEL_AUGS = (None, "exchange", "adapt_gray")


def ensure_size(img: np.ndarray, height: int, width: int, resample=Image.Resampling.LANCZOS) -> np.ndarray:
    """``img`` (H, W, 3) or (H, W) uint8 resized to ``(height, width)`` if it is not already."""
    if img.shape[0] == height and img.shape[1] == width:
        return img
    return np.asarray(Image.fromarray(img).resize((width, height), resample), dtype=np.uint8)


def pad_crop(img: np.ndarray, height: int, width: int, padding: int, top: int, left: int) -> np.ndarray:
    """Window ``[top:top+height, left:left+width]`` of ``img`` zero-padded by ``padding``.

    Equivalent to ``Pad(padding)`` followed by a crop at ``(top, left)`` but only
    copies the overlapping pixels.
    """
    h, w = img.shape[:2]
    out = np.zeros((height, width) + img.shape[2:], dtype=img.dtype)
    # source rows/cols in padded coordinates: [padding, padding + h)
    y0, y1 = max(top, padding), min(top + height, padding + h)
    x0, x1 = max(left, padding), min(left + width, padding + w)
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = img[y0 - padding : y1 - padding, x0 - padding : x1 - padding]
    return out


def random_pad_crop(img: np.ndarray, height: int, width: int, padding: int, rng: np.random.Generator) -> np.ndarray:
    """``Pad(padding)`` + ``RandomCrop((height, width))``: offsets uniform in ``0..padded - size``."""
    top = int(rng.integers(0, max(img.shape[0] + 2 * padding - height, 0) + 1))
    left = int(rng.integers(0, max(img.shape[1] + 2 * padding - width, 0) + 1))
    return pad_crop(img, height, width, padding, top, left)


def luminance(img: np.ndarray) -> np.ndarray:
    """(H, W) uint8 luminance by PIL's ``convert("L")`` (``(19595 R + 38470 G + 7471 B + 2**15) >> 16``).

    A 2-D (already greyscale) image is returned as is.
    """
    if img.ndim == 2:
        return img
    return np.asarray(Image.fromarray(np.ascontiguousarray(img), "RGB").convert("L"), dtype=np.uint8)


def grayscale(img: np.ndarray) -> np.ndarray:
    """PIL's ``convert("L")`` replicated to three channels (uint8 in, uint8 out)."""
    return np.repeat(luminance(img)[..., None], 3, axis=2)


@functools.lru_cache(maxsize=16)
def _normalize_lut(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(C, 256) float32 table of ``(v / 255 - mean) / std``, computed in float32 like torch does."""
    v = np.arange(256, dtype=np.float32)[None, :] / np.float32(255.0)
    m = np.asarray(mean, dtype=np.float32)[:, None]
    s = np.asarray(std, dtype=np.float32)[:, None]
    return ((v - m) / s).astype(np.float32)


def to_tensor_normalized(
    img: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """(H, W, C) or (H, W) uint8 -> (3, H, W) float32, ``(x / 255 - mean) / std`` (ToTensor + Normalize).

    A 256-entry table per channel: one gather per pixel, bitwise equal to the
    float32 arithmetic, and no torch intra-op threads (cheap in the main
    process).  A 2-D (greyscale) input is used for every channel.
    """
    lut = _normalize_lut(tuple(float(m) for m in mean), tuple(float(s) for s in std))
    out = np.empty((lut.shape[0], img.shape[0], img.shape[1]), dtype=np.float32)
    for c in range(lut.shape[0]):
        np.take(lut[c], img if img.ndim == 2 else img[..., c], out=out[c])
    return torch.from_numpy(out)


def random_erasing_(
    t: torch.Tensor,
    rng: np.random.Generator,
    *,
    p: float = 0.5,
    sl: float = 0.02,
    sh: float = 0.4,
    r1: float = 0.3,
    value: Sequence[float] = IMAGENET_MEAN,
    attempts: int = 100,
) -> torch.Tensor:
    """Random erasing (Zhong et al., AAAI 2020) in place, as DEEN's ``RandomErasing``.

    With probability ``p``: up to ``attempts`` rectangles of area
    ``U(sl, sh) * H * W`` and aspect ``U(r1, 1 / r1)`` are drawn (all at once);
    the first one that fits strictly inside the image is filled with ``value``.
    """
    if p <= 0 or rng.random() > p:
        return t
    _, h, w = t.shape
    area = rng.uniform(sl, sh, attempts) * (h * w)
    aspect = rng.uniform(r1, 1.0 / r1, attempts)
    eh = np.rint(np.sqrt(area * aspect)).astype(np.int64)
    ew = np.rint(np.sqrt(area / aspect)).astype(np.int64)
    ok = np.flatnonzero((ew < w) & (eh < h))
    if ok.size == 0:
        return t
    eh, ew = int(eh[ok[0]]), int(ew[ok[0]])
    y = int(rng.integers(0, h - eh + 1))
    x = int(rng.integers(0, w - ew + 1))
    fill = value if isinstance(value, torch.Tensor) else torch.tensor(list(value), dtype=t.dtype).view(-1, 1, 1)
    t[:, y : y + eh, x : x + ew] = fill[: t.shape[0]]
    return t


def _gray_normalized(t: torch.Tensor) -> torch.Tensor:
    return 0.2989 * t[0] + 0.5870 * t[1] + 0.1140 * t[2]


def channel_exchange_(t: torch.Tensor, rng: np.random.Generator, *, gray: int = 2) -> torch.Tensor:
    """CAJ's ``ChannelExchange(gray)``: ``k ~ U{0..gray}``; k < 3 copies channel k to all, else greyscale."""
    k = int(rng.integers(0, gray + 1))
    t[:] = t[k].clone() if k < 3 else _gray_normalized(t)
    return t


def channel_adapt_gray_(t: torch.Tensor, rng: np.random.Generator, *, p: float = 0.5) -> torch.Tensor:
    """CAJ's ``ChannelAdapGray(p)``: ``k ~ U{0..3}``; k < 3 copies channel k, k = 3 greyscale with prob ``p``."""
    k = int(rng.integers(0, 4))
    if k < 3:
        t[:] = t[k].clone()
    elif rng.random() <= p:
        t[:] = _gray_normalized(t)
    return t


class TrainTransform:
    """DEEN's training augmentation; ``transform(img, rng) -> (3, H, W) float32``.

    ``img`` is uint8 ``(H, W, 3)`` or ``(H, W)`` (greyscale, used for all channels).

    Args:
        height, width: network input size.
        padding: zero padding before the random crop.
        flip_p, grayscale_p: probabilities of the horizontal flip and the random greyscale.
        erasing_p, erasing_area, erasing_ratio: random erasing probability, (sl, sh) and r1.
        channel_aug: ``None``, ``"exchange"`` (CAJ ``ChannelExchange(gray=channel_gray)``) or
            ``"adapt_gray"`` (CAJ ``ChannelAdapGray(p=0.5)``); applied with probability ``channel_p``.
    """

    def __init__(
        self,
        *,
        height: int = 384,
        width: int = 144,
        padding: int = 10,
        flip_p: float = 0.5,
        grayscale_p: float = 0.5,
        erasing_p: float = 0.5,
        erasing_area: tuple[float, float] = (0.02, 0.4),
        erasing_ratio: float = 0.3,
        erasing_value: Sequence[float] = IMAGENET_MEAN,
        channel_aug: str | None = None,
        channel_p: float = 1.0,
        channel_gray: int = 2,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if channel_aug not in CHANNEL_AUGS:
            raise ValueError(f"channel_aug must be one of {CHANNEL_AUGS}, got {channel_aug!r}")
        if height <= 0 or width <= 0 or padding < 0:
            raise ValueError(f"invalid size {height}x{width} / padding {padding}")
        self.height, self.width, self.padding = int(height), int(width), int(padding)
        self.flip_p, self.grayscale_p = float(flip_p), float(grayscale_p)
        self.erasing_p, self.erasing_ratio = float(erasing_p), float(erasing_ratio)
        self.erasing_area = (float(erasing_area[0]), float(erasing_area[1]))
        self.erasing_value = tuple(erasing_value)
        self._fill = torch.tensor(self.erasing_value, dtype=torch.float32).view(-1, 1, 1)
        self.channel_aug, self.channel_p, self.channel_gray = channel_aug, float(channel_p), int(channel_gray)
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        img = ensure_size(img, self.height, self.width)
        img = random_pad_crop(img, self.height, self.width, self.padding, rng)
        if rng.random() < self.flip_p:
            img = img[:, ::-1]
        if rng.random() < self.grayscale_p:
            img = luminance(img)  # normalised into all three channels below
        t = to_tensor_normalized(img, self.mean, self.std)
        random_erasing_(
            t,
            rng,
            p=self.erasing_p,
            sl=self.erasing_area[0],
            sh=self.erasing_area[1],
            r1=self.erasing_ratio,
            value=self._fill,
        )
        if self.channel_aug is not None and rng.random() < self.channel_p:
            if self.channel_aug == "exchange":
                channel_exchange_(t, rng, gray=self.channel_gray)
            else:
                channel_adapt_gray_(t, rng)
        return t

    def __repr__(self) -> str:
        return (
            f"TrainTransform({self.height}x{self.width}, pad={self.padding}, flip={self.flip_p}, "
            f"gray={self.grayscale_p}, erasing={self.erasing_p}@{self.erasing_area}/{self.erasing_ratio}, "
            f"channel={self.channel_aug})"
        )


def deen_train_transform(dataset: str, **overrides) -> TrainTransform:
    """The DEEN recipe's transform for ``dataset`` (erasing parameters of :data:`ERASING_PRESETS`)."""
    if dataset not in ERASING_PRESETS:
        raise ValueError(f"no DEEN augmentation preset for {dataset!r}; expected one of {sorted(ERASING_PRESETS)}")
    sl, sh, r1 = ERASING_PRESETS[dataset]
    kwargs = dict(erasing_area=(sl, sh), erasing_ratio=r1)
    kwargs.update(overrides)
    return TrainTransform(**kwargs)


class TestTransform:
    """Resize (Lanczos, if needed) + ImageNet normalisation: ``(H, W, 3) uint8 -> (3, H, W) float32``."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        *,
        height: int = 384,
        width: int = 144,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.height, self.width = int(height), int(width)
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, img: np.ndarray) -> torch.Tensor:
        return to_tensor_normalized(ensure_size(img, self.height, self.width), self.mean, self.std)
