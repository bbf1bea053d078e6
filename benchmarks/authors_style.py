"""A DEEN training step written the way the authors' code is written, for side-by-side timing.

* data: every training image preloaded in RAM (as ``DEEN/data_loader.py`` does) and a
  per-image PIL pipeline (``ToPILImage -> Pad -> RandomCrop -> RandomHorizontalFlip ->
  ToTensor -> Normalize -> RandomErasing`` with a Python loop of erasing attempts);
* losses: per-anchor / per-identity Python loops (``tests/losses/loop_reference.py``),
  the same definitions as the vectorised losses;
* model: the same DEEN (their model is numerically ours, see tests/models/test_official.py),
  fp32, contiguous (NCHW) memory format.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from tests.losses.loop_reference import loop_cpm, loop_triplet

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def pil_transform(arr: np.ndarray, h: int, w: int, rnd: random.Random, sl=0.2, sh=0.8, r1=0.3) -> torch.Tensor:
    img = ImageOps.expand(Image.fromarray(arr), border=10, fill=0)
    top, left = rnd.randint(0, img.height - h), rnd.randint(0, img.width - w)
    img = img.crop((left, top, left + w, top + h))
    if rnd.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    t = (t - MEAN) / STD
    if rnd.random() < 0.5:                      # random erasing, authors' loop of attempts
        for _ in range(100):
            area = h * w * rnd.uniform(sl, sh)
            ratio = rnd.uniform(r1, 1 / r1)
            eh, ew = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
            if ew < w and eh < h:
                y, x = rnd.randint(0, h - eh), rnd.randint(0, w - ew)
                for c in range(3):
                    t[c, y:y + eh, x:x + ew] = MEAN[c, 0, 0]
                break
    return t


def authors_losses(out, labels_vis, labels_ir, margin=0.3):
    feat, logits = out.feat, out.logits
    e = feat.shape[0] // (2 * labels_vis.shape[0])
    base = torch.cat((labels_vis, labels_ir))
    labels = base.repeat(e)
    loss = F.cross_entropy(logits, labels) + loop_triplet(feat, labels, margin)
    chunks = feat.chunk(e)
    pair = torch.cat((base, base))
    cpm = sum(loop_cpm(torch.cat((chunks[0], c)), pair) for c in chunks[1:])
    return loss + 0.8 * cpm + 0.01 * out.aux_losses["ort"]
