"""Map-style training dataset of (visible, infrared) pairs, decoded lazily.

Indexed by the :class:`~vireid.data.sampler.PairIndex` items of the identity
sampler, it returns ``(img_vis, img_ir, label_vis, label_ir)`` as DEEN's
``SYSUData`` / ``RegDBData`` / ``LLCMData`` do.  Differences from the authors'
loaders, by design:

* images are decoded (and resized to the input size with Lanczos, DEEN's
  load-time step) inside the DataLoader workers, not all held in RAM; an
  in-memory cache of the resized uint8 arrays is optional (``cache=True``;
  call :meth:`preload` before the workers start so they share it);
* identities are relabelled ``0..C-1`` over the sorted union of the pids of
  both modalities (the authors' files are already relabelled this way);
* the augmentation generator of each image is
  ``numpy.random.default_rng([seed, epoch, position, modality])``, so a batch
  depends only on (seed, epoch, index) -- not on the number of workers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vireid.data.image import RESAMPLE_FILTERS, load_resized
from vireid.data.records import Record
from vireid.data.sampler import PairIndex
from vireid.data.transforms import TrainTransform
from vireid.errors import DatasetError


class CrossModalTrainDataset(Dataset):
    """Pairs of a visible and an infrared training image.

    Args:
        records: training records of both modalities (e.g. ``dataset.train``).
        transform: augmentation of visible images (its size is the input size).
        transform_ir: augmentation of infrared images (default: ``transform``).
        seed: base seed of the per-sample augmentation generators.
        cache: keep decoded, resized images in memory.
        draft: let the JPEG decoder downscale by powers of two before resizing (off: full decode, the authors').
        resample: load-time resize filter (``"lanczos"``, DEEN's ``ANTIALIAS``; ``"bilinear"`` is cheaper).
    """

    def __init__(
        self,
        records: Sequence[Record],
        *,
        transform: TrainTransform,
        transform_ir: TrainTransform | None = None,
        seed: int = 0,
        cache: bool = False,
        draft: bool = False,
        resample: str = "lanczos",
    ) -> None:
        self.visible = [r for r in records if r.modality == "visible"]
        self.infrared = [r for r in records if r.modality == "infrared"]
        if not self.visible or not self.infrared:
            missing = "visible" if not self.visible else "infrared"
            raise DatasetError(f"the training set has no {missing} images")
        self.pids = sorted({r.pid for r in self.visible} | {r.pid for r in self.infrared})
        self.pid2label = {pid: i for i, pid in enumerate(self.pids)}
        self.visible_labels = np.array([self.pid2label[r.pid] for r in self.visible], dtype=np.int64)
        self.infrared_labels = np.array([self.pid2label[r.pid] for r in self.infrared], dtype=np.int64)
        self.transform = transform
        self.transform_ir = transform_ir if transform_ir is not None else transform
        if (self.transform_ir.height, self.transform_ir.width) != (transform.height, transform.width):
            raise ValueError("visible and infrared transforms must produce the same size")
        self.height, self.width = transform.height, transform.width
        self.seed = int(seed)
        self.cache_enabled = bool(cache)
        self.draft = bool(draft)
        if resample not in RESAMPLE_FILTERS:
            raise ValueError(f"resample must be one of {sorted(RESAMPLE_FILTERS)}, got {resample!r}")
        self.resample = resample
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    @property
    def num_classes(self) -> int:
        return len(self.pids)

    def __len__(self) -> int:
        return max(len(self.visible), len(self.infrared))

    def load(self, modality: int, index: int) -> np.ndarray:
        """Resized uint8 image (H, W, 3) of record ``index`` of the visible (0) or infrared (1) list.

        0/1 here index the pair (visible, infrared) -- also in :meth:`rng`'s stream key, so the
        augmentation streams stay as they are -- and are not the modality codes of
        :mod:`vireid.modality` (1 visible, 2 infrared)."""
        key = (modality, index)
        if self.cache_enabled and key in self._cache:
            return self._cache[key]
        rec = (self.visible if modality == 0 else self.infrared)[index]
        img = load_resized(rec.path, self.height, self.width, draft=self.draft, resample=self.resample)
        if self.cache_enabled:
            img.flags.writeable = False
            self._cache[key] = img
        return img

    def preload(self) -> None:
        """Fill the cache in this process (before forking workers, which then share it)."""
        if not self.cache_enabled:
            raise ValueError("preload() needs cache=True")
        for m, recs in ((0, self.visible), (1, self.infrared)):
            for i in range(len(recs)):
                self.load(m, i)

    def rng(self, epoch: int, position: int, modality: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(epoch), int(position), int(modality)])

    def __getitem__(self, item: PairIndex | tuple) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        epoch, position, vi, ti = item
        img_vis = self.transform(self.load(0, vi), self.rng(epoch, position, 0))
        img_ir = self.transform_ir(self.load(1, ti), self.rng(epoch, position, 1))
        return img_vis, img_ir, int(self.visible_labels[vi]), int(self.infrared_labels[ti])


class TestImageDataset(Dataset):
    """Test images in record order -> ``(image, pid, camid)`` (resize + normalise)."""

    __test__ = False  # not a pytest class

    def __init__(self, records: Sequence[Record], *, transform, draft: bool = False) -> None:
        self.records = list(records)
        self.transform = transform
        self.draft = bool(draft)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        rec = self.records[index]
        img = load_resized(rec.path, self.transform.height, self.transform.width, draft=self.draft)
        return self.transform(img), rec.pid, rec.camid
