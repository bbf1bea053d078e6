"""A DEEN training step written the way the authors' code is written, for side-by-side timing.

* data: every training image preloaded in RAM (as ``DEEN/data_loader.py`` does) and a
  per-image PIL pipeline (``ToPILImage -> Pad -> RandomCrop -> RandomHorizontalFlip ->
  ToTensor -> Normalize -> RandomErasing`` with a Python loop of erasing attempts);
* losses: per-anchor / per-identity Python loops (``tests/losses/loop_reference.py``),
  the same definitions as the vectorised losses;
* model: a copy of our DEEN (their model is numerically ours, see
  tests/models/test_official.py) whose PNL blocks multiply in the authors' order,
  ``(theta @ phi / N) @ g`` with the (N x N) affinity, instead of our cheaper association
  (:func:`vireid.models.mfa.linear_attention`); fp32, contiguous (NCHW) memory format.
"""

from __future__ import annotations

import copy
import math
import random
import types

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from tests.losses.loop_reference import loop_cpm, loop_triplet

from vireid.models.mfa import PNL


def _authors_pnl_forward(self: PNL, x_h: torch.Tensor, x_l: torch.Tensor) -> torch.Tensor:
    b = x_h.shape[0]
    g_x = self.g(x_l).view(b, self.low_dim, -1).permute(0, 2, 1)
    theta_x = self.theta(x_h).view(b, self.low_dim, -1).permute(0, 2, 1)
    phi_x = self.phi(x_l).view(b, self.low_dim, -1)
    energy = torch.matmul(theta_x, phi_x)
    attention = energy / energy.size(-1)
    y = torch.matmul(attention, g_x).permute(0, 2, 1).contiguous()
    y = y.view(b, self.reduced, *x_h.shape[2:])
    return self.out(y) + x_h


def authors_model(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``model`` whose PNL blocks compute in the authors' order."""
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, PNL):
            m.forward = types.MethodType(_authors_pnl_forward, m)
    return ref


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
    if rnd.random() < 0.5:  # random erasing, authors' loop of attempts
        for _ in range(100):
            area = h * w * rnd.uniform(sl, sh)
            ratio = rnd.uniform(r1, 1 / r1)
            eh, ew = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
            if ew < w and eh < h:
                y, x = rnd.randint(0, h - eh), rnd.randint(0, w - ew)
                for c in range(3):
                    t[c, y : y + eh, x : x + ew] = MEAN[c, 0, 0]
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
