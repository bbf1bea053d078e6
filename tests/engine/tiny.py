"""A tiny stand-in ReID model and deterministic synthetic training data for engine tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vireid.config.shipped import CONFIG_DIR as CONFIGS
from vireid.models.base import MODAL_BOTH, MODAL_VISIBLE, ReIDModel


class TinyReID(ReIDModel):
    """Three embeddings (like DEEN), an 'ort' aux loss, dropout (exercises the RNG)."""

    num_embeddings = 3
    aux_loss_names = ("ort",)

    def __init__(self, num_classes: int = 4, dim: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        self.stem_vis = nn.Conv2d(3, dim, 3, padding=1)
        self.stem_ir = nn.Conv2d(3, dim, 3, padding=1)
        self.body = nn.Conv2d(dim, dim, 3, padding=1)
        self.expand = nn.ModuleList([nn.Conv2d(dim, dim, 1) for _ in range(2)])
        self.drop = nn.Dropout(dropout)
        self.bottleneck = nn.BatchNorm1d(dim)
        self.classifier = nn.Linear(dim, num_classes, bias=False)

    def forward_features(self, x_vis, x_ir, modal=MODAL_BOTH):
        if modal == MODAL_BOTH:
            x = torch.cat((self.stem_vis(x_vis), self.stem_ir(x_ir)))
        elif modal == MODAL_VISIBLE:
            x = self.stem_vis(x_vis)
        else:
            x = self.stem_ir(x_ir)
        x = F.relu(self.body(F.relu(x)))
        x = torch.cat([x] + [F.relu(e(x)) for e in self.expand])
        pooled = self.drop(x.mean((2, 3)))
        aux = {}
        if self.training:
            _, f1, f2 = pooled.chunk(3)
            aux["ort"] = (f1 * f2).sum() / pooled.shape[0]
        return pooled, aux, {}

    def forward_head(self, pooled):
        bn = self.bottleneck(pooled)
        return bn, self.classifier(bn)


class TinyData:
    """P identities x K images per modality; batches a pure function of (seed, epoch, index)."""

    def __init__(
        self, num_classes: int = 4, p: int = 2, k: int = 2, steps: int = 3, seed: int = 0, hw: tuple[int, int] = (8, 4)
    ) -> None:
        self.num_classes, self.p, self.k, self.steps_per_epoch, self.seed, self.hw = num_classes, p, k, steps, seed, hw

    def batch(self, epoch: int, index: int):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch * 1009 + index)
        ids = torch.randperm(self.num_classes, generator=g)[: self.p]
        labels = ids.repeat_interleave(self.k)
        base = labels.float()[:, None, None, None] / self.num_classes
        x_vis = base + 0.3 * torch.randn(len(labels), 3, *self.hw, generator=g)
        x_ir = base.flip(1) + 0.3 * torch.randn(len(labels), 3, *self.hw, generator=g)
        return x_vis, x_ir, labels, labels.clone()

    def batches(self, epoch: int, start: int = 0):
        for i in range(start, self.steps_per_epoch):
            yield self.batch(epoch, i)


def tiny_dataset(root) -> str:
    """The synthetic dataset of ``configs/test_tiny.yaml`` at ``root`` (generated once)."""
    from vireid.config import load_config
    from vireid.data.synth import ensure_dataset

    cfg = load_config(CONFIGS / "test_tiny.yaml")
    ensure_dataset(root, cfg.data.dataset, **cfg.data.synth)
    return str(root)


def read_metrics(path: str | Path) -> list[dict]:
    """All records of a ``metrics.jsonl`` file (a line a crash cut short, and the log's mark, skipped)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "vireid" not in rec:
            out.append(rec)
    return out
