"""DataLoaders for training (identity-sampled pairs) and testing (records in order)."""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader

from vireid.data.records import Record
from vireid.data.sampler import CrossModalIdentitySampler
from vireid.data.train_dataset import CrossModalTrainDataset, TestImageDataset
from vireid.data.transforms import ERASING_PRESETS, TestTransform, TrainTransform


def build_train_loader(
    records: Sequence[Record],
    *,
    height: int = 384,
    width: int = 144,
    num_ids: int = 6,
    num_instances: int = 4,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    per_rank: bool = False,
    num_workers: int = 2,
    erasing_preset: str = "llcm",
    erasing_p: float = 0.5,
    grayscale_p: float = 0.5,
    flip_p: float = 0.5,
    padding: int = 10,
    channel_aug: str | None = None,
    transform: TrainTransform | None = None,
    transform_ir: TrainTransform | None = None,
    batches_per_epoch: int | None = None,
    cache: bool = False,
    draft: bool = False,
    resample: str = "lanczos",
    pin_memory: bool = False,
    persistent_workers: bool = False,
) -> DataLoader:
    """A DataLoader yielding ``(img_vis, img_ir, label_vis, label_ir)`` batches of P x K pairs.

    The sampler is ``loader.sampler`` (call ``loader.sampler.set_epoch(e)`` each
    epoch; it also holds the resume state) and the dataset ``loader.dataset``
    (``num_classes``).  ``transform`` overrides the DEEN transform built from
    the other augmentation arguments; ``erasing_preset`` picks the random
    erasing (sl, sh, r1) of a dataset in :data:`ERASING_PRESETS`.  ``draft`` lets the JPEG
    decoder pre-shrink training images by a power of two (faster; off: the authors' full
    decode + Lanczos resize); ``per_rank``: see :class:`CrossModalIdentitySampler`.
    """
    if transform is None:
        if erasing_preset not in ERASING_PRESETS:
            raise ValueError(f"erasing_preset must be one of {sorted(ERASING_PRESETS)}, got {erasing_preset!r}")
        sl, sh, r1 = ERASING_PRESETS[erasing_preset]
        transform = TrainTransform(
            height=height,
            width=width,
            padding=padding,
            flip_p=flip_p,
            grayscale_p=grayscale_p,
            erasing_p=erasing_p,
            erasing_area=(sl, sh),
            erasing_ratio=r1,
            channel_aug=channel_aug,
        )
    dataset = CrossModalTrainDataset(
        records, transform=transform, transform_ir=transform_ir, seed=seed, cache=cache, draft=draft, resample=resample
    )
    sampler = CrossModalIdentitySampler(
        dataset.visible_labels,
        dataset.infrared_labels,
        num_ids=num_ids,
        num_instances=num_instances,
        seed=seed,
        rank=rank,
        world_size=world_size,
        per_rank=per_rank,
        batches_per_epoch=batches_per_epoch,
    )
    return DataLoader(
        dataset,
        batch_size=sampler.batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
    )


def build_test_loader(
    records: Sequence[Record],
    *,
    height: int = 384,
    width: int = 144,
    batch_size: int = 64,
    num_workers: int = 0,
    draft: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over ``records`` in order yielding ``(images, pids, camids)`` batches."""
    dataset = TestImageDataset(records, transform=TestTransform(height=height, width=width), draft=draft)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=pin_memory)


class TrainBatches:
    """The trainer's view of a loader from :func:`build_train_loader` (``TrainData`` protocol).

    ``batches(epoch, start)`` yields the batches of ``epoch`` from index ``start`` on; they depend
    only on (seed, epoch, index) -- the sampler and the per-sample augmentation seeds are functions
    of (seed, epoch, position) -- so the training position (epoch, iter) is all a checkpoint needs
    to resume exactly.  The DataLoader draws its worker base seed from a private generator
    (re-seeded per epoch), never from the global RNG that dropout uses.
    """

    def __init__(self, loader: DataLoader, seed: int = 0) -> None:
        if not isinstance(loader.sampler, CrossModalIdentitySampler):
            raise TypeError("TrainBatches needs a loader built by build_train_loader")
        self.loader = loader
        self.sampler: CrossModalIdentitySampler = loader.sampler
        self.steps_per_epoch = int(self.sampler.batches_per_epoch)
        self.seed = int(seed)
        self.loader.generator = torch.Generator()

    @property
    def num_classes(self) -> int:
        return self.loader.dataset.num_classes

    def batches(self, epoch: int, start: int = 0) -> Iterator:
        self.sampler.set_epoch(epoch, start_batch=start)
        self.loader.generator.manual_seed(self.seed * 100_003 + epoch)
        yield from self.loader

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.sampler.load_state_dict(state)  # validates batch layout / world size
