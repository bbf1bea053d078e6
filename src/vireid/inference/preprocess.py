"""Test-time preprocessing of user images: anything image-like -> normalised (3, H, W) float32.

Exactly the evaluation test transform (:class:`vireid.data.transforms.TestTransform` applied to
:func:`vireid.data.image.load_resized`): decode to 8-bit RGB (single-channel sources stay one
channel, which the normalisation table broadcasts to three), resize to the model's input size
with PIL's Lanczos filter when the size differs, then ``(x / 255 - mean) / std`` per channel.

Accepted inputs (one image each):

* a path (``str`` / ``os.PathLike``): decoded by :func:`~vireid.data.image.read_image`
  (greyscale, 16-bit, RGBA and palette images are converted; a non-image raises
  :class:`~vireid.errors.DatasetError`);
* a :class:`PIL.Image.Image` of any mode (converted the same way);
* a ``uint8`` numpy array ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` (alpha dropped);
* a tensor ``(C, H, W)`` with C in 1, 3, 4: ``uint8`` (0..255, handled like the array), or
  floating point in ``[0, 1]`` (resized per channel with PIL's Lanczos on float32 planes, so no
  8-bit rounding).  Values outside ``[0, 1]`` are refused: they look already normalised, and
  normalising twice is the mistake this module exists to prevent.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from vireid.data.image import _to_8bit, read_image
from vireid.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ensure_size, to_tensor_normalized
from vireid.errors import ShapeError

_LANCZOS = Image.Resampling.LANCZOS


def iter_images(images: Any) -> Iterator[Any]:
    """Split ``images`` into single images: a (B, C, H, W) tensor or a list/tuple gives its items."""
    if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray)):
        yield images
    elif isinstance(images, torch.Tensor):
        if images.dim() == 4:
            yield from images.unbind(0)
        else:
            yield images
    elif isinstance(images, (list, tuple)):
        for item in images:
            if isinstance(item, torch.Tensor) and item.dim() == 4:
                yield from item.unbind(0)
            else:
                yield item
    else:
        raise ShapeError(
            f"cannot embed an object of type {type(images).__name__}; expected file paths, "
            "PIL images, uint8 arrays or tensors (single or a list)"
        )


def _uint8_hwc(arr: np.ndarray, what: str) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 from (H, W), (H, W, 1|3|4) uint8."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]  # drop alpha, as PIL's RGBA -> RGB conversion does
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or min(arr.shape[:2]) < 1:
        raise ShapeError(
            f"{what}: expected an image array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {tuple(arr.shape)}"
        )
    return np.ascontiguousarray(arr)


def _float_tensor(
    x: torch.Tensor, height: int, width: int, mean: Sequence[float], std: Sequence[float], what: str
) -> torch.Tensor:
    if x.dim() != 3 or x.shape[0] not in (1, 3, 4):
        raise ShapeError(
            f"{what}: expected a float image tensor (C, H, W) with C in 1, 3, 4, got shape {tuple(x.shape)}"
        )
    x = x.detach().to("cpu", torch.float32)
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ShapeError(
            f"{what}: float image tensors must hold values in [0, 1] (got range "
            f"[{x.min().item():.3g}, {x.max().item():.3g}]); pass raw images -- "
            "normalisation happens inside embed()"
        )
    x = x[:3] if x.shape[0] == 4 else x
    x = x.expand(3, -1, -1) if x.shape[0] == 1 else x
    if tuple(x.shape[1:]) != (height, width):
        planes = [np.asarray(Image.fromarray(c.numpy(), mode="F").resize((width, height), _LANCZOS)) for c in x]
        x = torch.from_numpy(np.stack(planes)).clamp_(0, 1)
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (x - m) / s


def preprocess_image(
    image: Any,
    height: int,
    width: int,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    index: int = 0,
) -> torch.Tensor:
    """One image (see the module docstring) -> normalised (3, height, width) float32 tensor."""
    what = f"image {index}"
    if isinstance(image, (str, os.PathLike)):
        arr = np.asarray(read_image(image, keep_gray=True), dtype=np.uint8)
    elif isinstance(image, Image.Image):
        arr = np.asarray(_to_8bit(image, gray_ok=True), dtype=np.uint8)
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ShapeError(
                f"{what}: numpy images must be uint8 (got {image.dtype}); pass a float tensor "
                "in [0, 1] for floating-point images"
            )
        arr = _uint8_hwc(image, what)
    elif isinstance(image, torch.Tensor):
        if image.dtype == torch.uint8:
            if image.dim() != 3 or image.shape[0] not in (1, 3, 4):
                raise ShapeError(
                    f"{what}: expected a uint8 image tensor (C, H, W) with C in 1, 3, 4, got shape {tuple(image.shape)}"
                )
            arr = _uint8_hwc(image.detach().cpu().permute(1, 2, 0).numpy(), what)
        elif image.is_floating_point():
            return _float_tensor(image, height, width, mean, std, what)
        else:
            raise ShapeError(f"{what}: image tensors must be uint8 or float in [0, 1], got {image.dtype}")
    else:
        raise ShapeError(f"{what}: cannot read an object of type {type(image).__name__} as an image")
    return to_tensor_normalized(ensure_size(arr, height, width), mean, std)


def preprocess_batch(
    images: Iterable[Any],
    height: int,
    width: int,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    start: int = 0,
) -> torch.Tensor:
    """A list of single images -> (B, 3, height, width) float32."""
    out = [preprocess_image(im, height, width, mean=mean, std=std, index=start + i) for i, im in enumerate(images)]
    if not out:
        raise ShapeError("no images to embed")
    return torch.stack(out)
