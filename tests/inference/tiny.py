"""Tiny random models, checkpoints and image folders shared by the inference, CLI, export and viz tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vireid.models import DEEN

SIZE = (64, 32)  # (H, W): the smallest DEEN-friendly input (multiples of 32)


def tiny_deen(seed: int = 0, **kw) -> DEEN:
    """The brief's tiny DEEN, with BN statistics and MFA norms randomised so every part is active."""
    torch.manual_seed(seed)
    model = DEEN(num_classes=4, base_channels=8, layers=(1, 1, 1, 1), **kw)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + 0.2 * torch.rand(m.running_var.shape, generator=g))
            if hasattr(m, "gamma") and isinstance(m.gamma, torch.nn.Parameter):  # ABD modules
                m.gamma.fill_(0.5)
    return model.eval()


def engine_checkpoint(
    path: Path,
    model: torch.nn.Module,
    *,
    name: str = "deen",
    args: dict | None = None,
    height: int = SIZE[0],
    width: int = SIZE[1],
    combine: str = "all",
    flip: bool = True,
) -> Path:
    """A weights file as the engine writes it (vireid-model metadata + the run config)."""
    from vireid.config import Config
    from vireid.engine.run import checkpoint_metadata
    from vireid.models.weights import save_weights

    cfg = Config()
    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, height=height, width=width),
        model=dataclasses.replace(cfg.model, name=name, args=dict(args or {})),
        eval=dataclasses.replace(cfg.eval, combine=combine, flip=flip),
    )
    save_weights(model, path, checkpoint_metadata(model, cfg))
    return path


def deen_checkpoint(tmp: Path, seed: int = 0, **kw) -> Path:
    """An engine-style checkpoint of :func:`tiny_deen` at 64 x 32."""
    return engine_checkpoint(tmp / f"deen{seed}.safetensors", tiny_deen(seed, **kw), args=kw)


def random_image(rng: np.random.Generator, h: int = 70, w: int = 30, pid: int = 0) -> np.ndarray:
    base = np.array([(37 * pid) % 256, (91 * pid) % 256, (53 * pid + 80) % 256], dtype=np.float64)
    img = base + rng.normal(0, 40, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_gallery(
    root: Path, pids=(1, 2, 3), cams=(1, 2), per: int = 1, seed: int = 0, gray: bool = False
) -> list[Path]:
    """``root/cam{c}/{pid:04d}/{i}.png`` images (SYSU layout); ``gray`` writes single-channel PNGs."""
    rng = np.random.default_rng(seed)
    paths = []
    for c in cams:
        for pid in pids:
            for i in range(per):
                p = root / f"cam{c}" / f"{pid:04d}" / f"{i:04d}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                img = random_image(rng, pid=pid)
                Image.fromarray(img[:, :, 0] if gray else img).save(p)
                paths.append(p)
    return paths
