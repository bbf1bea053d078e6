"""Training data pipeline: decode + augmentation images/s at 288x144 with 2 DataLoader workers.

Target: at least 300 training images/s on the 2-core machine.  A few hundred
JPEGs of about 300x150 (textured, visible RGB and single-channel infrared) are written to a
temporary folder; both pipelines read them through the same identity sampler and a
DataLoader with 2 workers and produce the same kind of batches:

* ``vireid``: :func:`vireid.data.loaders.build_train_loader` (single-channel images kept
  single-channel through the resize, uint8 numpy pad/crop window, slice flip, PIL luminance,
  table-lookup normalisation, vectorised random erasing);
* ``per-image PIL``: the straightforward torchvision-style chain written with PIL --
  ``convert("RGB")`` / ``resize`` / ``ImageOps.expand`` / ``crop`` / ``transpose`` /
  ``convert("L")``, then ``ToTensor`` + ``Normalize`` and the authors' random-erasing loop.

Images/s counts both images of each (visible, infrared) pair.  The two are timed
alternately (median of repeats after a warm-up epoch that also starts the workers).
The machine is shared by other jobs, so besides wall-clock images/s we report images
per CPU-second of the workers + main process, and the throughput this projects on two
idle cores (2 x images per CPU-second).
"""

from __future__ import annotations

import math
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from benchmarks._common import cli
from vireid.data.loaders import build_train_loader
from vireid.data.records import Record
from vireid.data.transforms import IMAGENET_MEAN, IMAGENET_STD

H, W = 288, 144


def make_images(folder: Path, n: int, seed: int = 0) -> list[Record]:
    """``n`` JPEGs of about 300x150 (half visible RGB, half single-channel infrared)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:330, 0:170]
    recs = []
    for i in range(n):
        modality = "visible" if i % 2 == 0 else "infrared"
        h, w = 280 + int(rng.integers(0, 41)), 140 + int(rng.integers(0, 21))
        base = (np.sin(xx[:h, :w] / (3 + i % 7)) + np.cos(yy[:h, :w] / (5 + i % 11))) * 60 + 128
        img = np.clip(base[..., None] + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{modality}_{i:04d}.jpg"
        pil = Image.fromarray(img) if modality == "visible" else Image.fromarray(img[..., 0], "L")
        pil.save(path, quality=90)
        recs.append(Record(str(path), i // 8, 1 if modality == "visible" else 3, modality))  # type: ignore[arg-type]
    return recs


class _PerImagePIL(Dataset):
    """The straightforward pipeline: PIL ops per image, then ToTensor/Normalize and erasing."""

    def __init__(self, dataset) -> None:
        self.visible, self.infrared = dataset.visible, dataset.infrared
        self.vl, self.il = dataset.visible_labels, dataset.infrared_labels
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def _one(self, path: str, rnd: random.Random) -> torch.Tensor:
        img = Image.open(path).convert("RGB").resize((W, H), Image.Resampling.LANCZOS)
        img = ImageOps.expand(img, border=10, fill=0)
        if rnd.random() < 0.5:
            img = img.convert("L").convert("RGB")
        top, left = rnd.randint(0, 20), rnd.randint(0, 20)
        img = img.crop((left, top, left + W, top + H))
        if rnd.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        t = torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div(255)
        t = (t - self.mean) / self.std
        if rnd.uniform(0, 1) <= 0.5:
            for _ in range(100):
                area = H * W * rnd.uniform(0.02, 0.4)
                ar = rnd.uniform(0.3, 1 / 0.3)
                h, w = int(round(math.sqrt(area * ar))), int(round(math.sqrt(area / ar)))
                if w < W and h < H:
                    x1, y1 = rnd.randint(0, H - h), rnd.randint(0, W - w)
                    for c in range(3):
                        t[c, x1 : x1 + h, y1 : y1 + w] = IMAGENET_MEAN[c]
                    break
        return t

    def __getitem__(self, item):
        epoch, position, vi, ti = item
        rnd = random.Random(hash((epoch, position)))
        return (
            self._one(self.visible[vi].path, rnd),
            self._one(self.infrared[ti].path, rnd),
            int(self.vl[vi]),
            int(self.il[ti]),
        )

    def __len__(self) -> int:
        return max(len(self.visible), len(self.infrared))


def run(quick: bool = False) -> list[dict]:
    n_images, batches, repeats = (160, 4, 2) if quick else (400, 12, 3)
    workers = 2
    with tempfile.TemporaryDirectory(prefix="vireid_bench_data_") as tmp:
        recs = make_images(Path(tmp), n_images)
        # draft=True: JPEG draft decoding (data.draft; the paper configs decode fully)
        ours = build_train_loader(
            recs,
            height=H,
            width=W,
            num_ids=6,
            num_instances=4,
            seed=0,
            draft=True,
            num_workers=workers,
            batches_per_epoch=batches,
            persistent_workers=True,
        )
        fast = build_train_loader(
            recs,
            height=H,
            width=W,
            num_ids=6,
            num_instances=4,
            seed=0,
            draft=True,
            num_workers=workers,
            batches_per_epoch=batches,
            persistent_workers=True,
            resample="bilinear",
        )
        pil = DataLoader(
            _PerImagePIL(ours.dataset),
            batch_size=ours.sampler.batch_size,
            sampler=ours.sampler,
            drop_last=True,
            num_workers=workers,
            persistent_workers=True,
        )
        images_per_epoch = batches * ours.sampler.batch_size * 2
        loaders = {"vireid": ours, "pil": pil, "bilinear": fast}
        wall: dict[str, list[float]] = {k: [] for k in loaders}
        cpu: dict[str, list[float]] = {k: [] for k in loaders}
        for rep in range(repeats + 1):  # the first pass warms up (and starts the workers)
            for name, loader in loaders.items():
                loader.sampler.set_epoch(rep)
                w0, c0 = time.perf_counter(), _cpu_seconds(loader)
                n = sum(x_vis.shape[0] + x_ir.shape[0] for x_vis, x_ir, _, _ in loader)
                assert n == images_per_epoch
                if rep > 0:
                    wall[name].append(time.perf_counter() - w0)
                    cpu[name].append(_cpu_seconds(loader) - c0)
        load = os.getloadavg()[0]
    ips = {k: images_per_epoch / statistics.median(v) for k, v in wall.items()}
    per_cpu = {k: images_per_epoch / statistics.median(v) for k, v in cpu.items()}
    note = f"{n_images} JPEGs ~300x150 on disk, 288x144, P=6 K=4, {workers} workers"
    shared = f"wall clock on the shared machine (1-min load average {load:.1f} on {os.cpu_count()} cores)"
    return [
        {"name": "vireid pipeline, 2 workers", "value": ips["vireid"], "unit": "images/s", "note": f"{note}; {shared}"},
        {"name": "per-image PIL pipeline, 2 workers", "value": ips["pil"], "unit": "images/s", "note": shared},
        {
            "name": "vireid pipeline, per CPU-second",
            "value": per_cpu["vireid"],
            "unit": "images/CPU-s",
            "note": "CPU time of the workers + main process (much less sensitive to other load)",
        },
        {
            "name": "per-image PIL pipeline, per CPU-second",
            "value": per_cpu["pil"],
            "unit": "images/CPU-s",
            "note": "same",
        },
        {
            "name": "vireid pipeline, projected on 2 idle cores",
            "value": 2 * per_cpu["vireid"],
            "unit": "images/s",
            "note": "2 x images per CPU-second; target >= 300",
        },
        {
            "name": "vireid pipeline, bilinear load-time resize, projected on 2 idle cores",
            "value": 2 * per_cpu["bilinear"],
            "unit": "images/s",
            "note": f"resample='bilinear' instead of DEEN's Lanczos; {ips['bilinear']:.0f} images/s wall clock",
        },
        {
            "name": "speed-up vireid / per-image PIL (CPU time)",
            "value": per_cpu["vireid"] / per_cpu["pil"],
            "unit": "x",
            "note": "same sampler, same images",
        },
    ]


def _cpu_seconds(loader: DataLoader) -> float:
    """User + system CPU seconds of this process and the loader's (persistent) workers."""
    total = time.process_time()
    it = getattr(loader, "_iterator", None)
    tick = os.sysconf("SC_CLK_TCK")
    for w in getattr(it, "_workers", []) or []:
        try:
            fields = Path(f"/proc/{w.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def main(argv: list[str] | None = None) -> int:
    return cli("bench_data", "Training data pipeline (decode + augmentation)", run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
