"""Image decoding: every image vireid reads goes through :func:`read_image`.

Re-ID crops come as 8-bit RGB JPEGs (visible), single-channel or 3-channel
infrared images (SYSU-MM01's IR cameras, RegDB's thermal ``.bmp``), and the odd
RGBA / palette PNG.  All are returned as RGB so that both modalities enter the
network with three channels, as in DEEN (which relies on PIL returning 3-channel
arrays).  Choices, for modes PIL cannot convert faithfully by itself:

* 16-bit greyscale (``I;16*``) and 32-bit integer (``I``) images are mapped
  linearly from 0..65535 to 0..255 (``v / 257``, rounded) -- a fixed rule, not a
  per-image stretch, so that temperatures stay comparable between images;
* float images (``F``) are clipped to 0..255;
* alpha is dropped (the colour channels are kept as they are), palette images
  with transparency are expanded through RGBA first.

EXIF orientation is ignored: re-ID crops are stored upright and the authors'
code ignores it too.
"""

from __future__ import annotations

import os
from typing import Tuple

import numpy as np
from PIL import Image

from vireid.errors import DatasetError
from vireid.utils.paths import file_problem

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

RESAMPLE_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,  # PIL's ANTIALIAS, used by DEEN's loaders
}


def is_image_file(name: str) -> bool:
    """True for a non-hidden file name with a known image extension."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _to_8bit(img: Image.Image, gray_ok: bool) -> Image.Image:
    """RGB (or, with ``gray_ok``, L for single-channel sources) 8-bit image."""
    mode = img.mode
    if mode == "RGB" or (gray_ok and mode == "L"):
        return img
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img).astype(np.float64)
        arr = np.clip(np.rint(np.clip(arr, 0, 65535) / 257.0), 0, 255).astype(np.uint8)
        gray = Image.fromarray(arr, "L")
        return gray if gray_ok else gray.convert("RGB")
    if mode == "F":
        arr = np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
        gray = Image.fromarray(arr, "L")
        return gray if gray_ok else gray.convert("RGB")
    if gray_ok and mode in ("1", "LA", "La"):
        return img.convert("L")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


def read_image(
    path: str | os.PathLike, *, draft_size: Tuple[int, int] | None = None, keep_gray: bool = False
) -> Image.Image:
    """Decode ``path`` into an RGB :class:`PIL.Image.Image`.

    ``keep_gray=True`` returns single-channel sources (greyscale / 16-bit
    infrared) as 8-bit ``L`` images instead, so that later steps touch one
    channel instead of three identical ones.

    ``draft_size=(width, height)`` lets the JPEG decoder downscale by a power of
    two while decoding (``Image.draft``), never below the requested size; it is
    a no-op for other formats and for images smaller than twice the size.
    A missing, unreadable or corrupt (including truncated) file raises
    :class:`DatasetError` naming the path; so does a pipe or a device (opened, it would wait forever).
    """
    problem = file_problem(path, "image file")
    if problem:
        raise DatasetError(f"{path}: {problem}")
    try:
        with Image.open(path) as img:
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", (int(draft_size[0]), int(draft_size[1])))
            img.load()
            out = _to_8bit(img, keep_gray)
            if out is img:
                out = img.copy()
    except FileNotFoundError:
        raise DatasetError(f"{path}: image file not found") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: expected an image file, found a directory") from None
    except PermissionError:
        raise DatasetError(f"{path}: image file is not readable (permission denied)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"{path}: cannot decode image ({exc})") from None
    return out


def load_resized(
    path: str | os.PathLike,
    height: int,
    width: int,
    *,
    resample: str = "lanczos",
    draft: bool = False,
    keep_gray: bool = True,
) -> np.ndarray:
    """Decode and resize to ``(height, width)``; returns a ``(H, W, 3)`` uint8 array.

    This is DEEN's loading step (``Image.resize((w, h), ANTIALIAS)``, i.e. Lanczos)
    done lazily per image instead of once for the whole dataset.  With
    ``keep_gray`` (default) a single-channel source comes back as ``(H, W)``:
    the same pixels as each channel of its RGB version (resizing acts per
    channel), at a third of the cost; the transforms broadcast it to 3 channels.
    """
    if resample not in RESAMPLE_FILTERS:
        raise ValueError(f"resample must be one of {sorted(RESAMPLE_FILTERS)}, got {resample!r}")
    img = read_image(path, draft_size=(width, height) if draft else None, keep_gray=keep_gray)
    if img.size != (width, height):
        img = img.resize((width, height), RESAMPLE_FILTERS[resample])
    return np.asarray(img, dtype=np.uint8)  # (H, W, 3), or (H, W) for a kept greyscale image
