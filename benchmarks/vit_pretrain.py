"""A pretraining stand-in for ImageNet weights: a small ViT trained once on a disjoint synthetic set.

``python -m benchmarks.vit_pretrain [--out PATH] [--threads 2] [--force] [key=value ...]``

The DEEN-ViT recipe fine-tunes from ImageNet ViT weights; a CPU-sized ablation has none, and a
ViT trained from random weights in a few minutes does not learn (Rank-1 near chance).  This
stand-in trains a plain :class:`vireid.models.vit.VisionTransformer` once on identity
classification (cross-entropy + batch-hard triplet over both modalities) on a *separate*
synthetic SYSU-MM01-layout set -- its own generator seed and folder, so no benchmark identity
is seen -- and saves the backbone in timm's names (``cls_token``, ``pos_embed``,
``patch_embed.proj.*``, ``blocks.*``, ``norm.*``) as safetensors.  Every ablation row then
loads it through ``model.pretrained=PATH`` (``DEENViT.load_pretrained``), exactly as real
ImageNet weights: ``patch_embed`` initialises both modality embeddings, ``pos_embed`` is
resampled from the checkpoint's square grid to the model's, MFA / expansion / stage 4 / neck
start from their own initialisation.

Position grid: like every timm ViT checkpoint, the file stores a *square* position grid
(``pos_grid`` x ``pos_grid``), and the loader resamples it to the model's grid
(:func:`vireid.models.vit_weights.resample_abs_pos_embed`).  Pretraining itself runs on
``height`` x ``width`` person crops (2:1, the fine-tuning aspect) and resamples the square grid
to their patch grid in every forward pass with that same function (timm's
``dynamic_img_size``), so a fine-tuning run at the pretraining size sees exactly the position
embeddings pretraining used, and other sizes see the same resampling as ImageNet weights do.

The file's metadata holds the settings and the wall time; an existing file with the same
settings is reused (nothing is trained), one with other settings is replaced only with
``--force``.  ``key=value`` overrides :class:`PretrainSettings` fields (e.g. ``epochs=4``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vireid.engine.trainer import HookBase
from vireid.errors import ConfigError, VireidError
from vireid.models.base import MODAL_BOTH, ReIDModel
from vireid.models.vit import VisionTransformer, run_blocks
from vireid.models.vit_weights import resample_abs_pos_embed

FORMAT = "vireid-vit-pretrain"


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that defines the pretrained weights (the cache key)."""

    root: str = "data/synth-sysu-pretrain"  # the pretraining set (disjoint from the benchmark's)
    num_ids: int = 1000
    images_per_id_per_cam: int = 8
    synth_seed: int = 1  # the benchmark uses generator seed 0
    difficulty: float = 0.1
    height: int = 64  # pretraining crops (the fine-tuning aspect, 2:1)
    width: int = 32
    pos_grid: int = 8  # side of the stored (square) position grid
    patch_size: int = 8
    embed_dim: int = 96
    depth: int = 4
    num_heads: int = 3
    epochs: int = 6
    num_ids_per_batch: int = 16
    num_pos: int = 2
    lr: float = 1.0e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 0.5
    label_smoothing: float = 0.1
    triplet_weight: float = 1.0
    pad: int = 4
    grayscale_p: float = 0.5
    erasing_p: float = 0.0
    amp: str = "none"
    seed: int = 0

    def default_path(self) -> Path:
        return Path("data/pretrained") / (
            f"vit{self.embed_dim}d{self.depth}p{self.patch_size}_synth{self.height}x{self.width}.safetensors"
        )

    def vit_kwargs(self) -> dict[str, Any]:
        """The stored ViT: square ``img_size`` = ``pos_grid * patch_size`` (its position grid)."""
        return dict(
            img_size=self.pos_grid * self.patch_size,
            patch_size=self.patch_size,
            embed_dim=self.embed_dim,
            depth=self.depth,
            num_heads=self.num_heads,
        )


class ViTIdentityNet(ReIDModel):
    """A timm-named ViT + DEEN's BNNeck and classifier; features = mean of the normed patch tokens
    (DEEN-ViT's ``pool="avg"``), so the pretrained ``norm`` is the one DEEN-ViT uses.

    ``input_size``: the (H, W) of the training images; the ViT's square position grid is
    resampled to their patch grid in every forward (differentiably), as timm's ``dynamic_img_size``.
    """

    def __init__(self, num_classes: int, input_size: tuple[int, int], **vit_kwargs: Any) -> None:
        super().__init__()
        self.vit = VisionTransformer(num_classes=0, global_pool="", **vit_kwargs)
        p = self.vit.patch_embed.patch_size
        if input_size[0] % p[0] or input_size[1] % p[1]:
            raise ConfigError(f"input size {input_size} is not a multiple of the patch size {p}")
        self.input_size = tuple(input_size)
        self.input_grid = (input_size[0] // p[0], input_size[1] // p[1])
        dim = self.vit.embed_dim
        self.bottleneck = nn.BatchNorm1d(dim)
        self.bottleneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, 0, 0.001)

    def forward_features(self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int = MODAL_BOTH):
        x = torch.cat([t for t in (x_vis, x_ir) if t is not None], dim=0)
        if tuple(x.shape[2:]) != self.input_size:
            raise ConfigError(f"expected {self.input_size} images, got {tuple(x.shape[2:])}")
        vit = self.vit
        pos = resample_abs_pos_embed(vit.pos_embed, self.input_grid, vit.grid_size, vit.num_prefix_tokens)
        tokens = vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
        tokens = torch.cat((vit.cls_token.expand(x.shape[0], -1, -1), tokens), dim=1) + pos
        tokens = vit.norm(run_blocks(vit.blocks, vit.norm_pre(vit.pos_drop(tokens))))
        return tokens[:, vit.num_prefix_tokens :].mean(dim=1), {}, {}

    def forward_head(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        feat = self.bottleneck(pooled)
        return feat, self.classifier(feat)


def read_settings(path: Path) -> dict[str, Any] | None:
    """The settings stored in a pretrained file of ours, or None (no file / not ours)."""
    if not path.is_file():
        return None
    from vireid.utils.io import load_safetensors

    _, meta = load_safetensors(path)
    if meta.get("format") != FORMAT:
        return None
    return json.loads(meta.get("settings", "{}"))


def pretrain(settings: PretrainSettings, out: Path, *, threads: int = 0, log=print) -> dict[str, Any]:
    """Train the ViT and write ``out``; returns ``{"seconds", "epochs", "steps", "num_ids"}``."""
    from vireid.core.device import resolve_amp
    from vireid.data.datasets import build_dataset
    from vireid.data.loaders import TrainBatches, build_train_loader
    from vireid.data.synth import ensure_dataset
    from vireid.data.transforms import TrainTransform
    from vireid.engine.context import cpu_threads, seed_everything
    from vireid.engine.trainer import Trainer
    from vireid.objective import build_objective
    from vireid.optim.optimizers import build_optimizer
    from vireid.optim.schedules import LRScheduler, build_schedule
    from vireid.utils.io import save_safetensors

    s = settings
    with cpu_threads(threads):
        t0 = time.perf_counter()
        ensure_dataset(
            s.root,
            "sysu",
            num_ids=s.num_ids,
            num_test_ids=2,
            seed=s.synth_seed,
            difficulty=s.difficulty,
            images_per_id_per_cam=s.images_per_id_per_cam,
            workers=max(threads, 1),
        )
        t_data = time.perf_counter() - t0
        dataset = build_dataset("sysu", s.root, mode="all", shot="single")
        seed_everything(s.seed)
        transform = TrainTransform(
            height=s.height, width=s.width, padding=s.pad, flip_p=0.5, grayscale_p=s.grayscale_p, erasing_p=s.erasing_p
        )
        loader = build_train_loader(
            dataset.train,
            transform=transform,
            height=s.height,
            width=s.width,
            num_ids=s.num_ids_per_batch,
            num_instances=s.num_pos,
            seed=s.seed,
            num_workers=0,
            cache=True,
        )
        data = TrainBatches(loader, s.seed)
        model = ViTIdentityNet(loader.dataset.num_classes, (s.height, s.width), **s.vit_kwargs())
        optimizer = build_optimizer(model, name="adamw", lr=s.lr, backbone_lr_mult=1.0, weight_decay=s.weight_decay)
        schedule = build_schedule(
            "cosine", epochs=s.epochs, warmup_epochs=s.warmup_epochs, milestones=(), gammas=(), min_factor=0.01
        )
        objective = build_objective(
            model,
            {
                "id": {"label_smoothing": s.label_smoothing},
                "triplet": {"weight": s.triplet_weight},
                "cpm": {"weight": 0.0},
                "ort": {"weight": 0.0},
            },
            global_batch=False,
        )
        device = torch.device("cpu")
        trainer = Trainer(
            model,
            objective,
            optimizer,
            LRScheduler(optimizer, schedule, data.steps_per_epoch),
            data,
            epochs=s.epochs,
            device=device,
            precision=resolve_amp(s.amp, device),
            grad_clip=5.0,
            hooks=[_EpochLog(log)],
        )
        log(
            f"pretraining ViT ({sum(p.numel() for p in model.vit.parameters()) / 1e6:.2f} M params) on "
            f"{loader.dataset.num_classes} identities of {s.root}, {data.steps_per_epoch} steps/epoch x "
            f"{s.epochs} epochs, {trainer.precision.name}"
        )
        trainer.train()
        seconds = time.perf_counter() - t0
    info = {
        "seconds": round(seconds, 1),
        "data_seconds": round(t_data, 1),
        "epochs": s.epochs,
        "steps": trainer.global_step,
        "num_ids": loader.dataset.num_classes,
        "last_losses": {k: round(v, 4) for k, v in trainer.last_losses.items()},
    }
    meta = {
        "format": FORMAT,
        "settings": json.dumps(asdict(s), sort_keys=True),
        "info": json.dumps(info),
        "grid": json.dumps(list(model.vit.grid_size)),
    }
    save_safetensors(model.vit.state_dict(), out, metadata=meta)
    return info


class _EpochLog(HookBase):
    """Prints the losses and the elapsed time after every epoch."""

    def __init__(self, log) -> None:
        self.log, self.t0 = log, time.perf_counter()

    def after_epoch(self) -> None:
        losses = ", ".join(f"{k} {v:.3f}" for k, v in self.trainer.last_losses.items())
        self.log(f"epoch {self.trainer.epoch + 1}: {losses} ({time.perf_counter() - self.t0:.0f} s)")


def ensure_pretrained(
    settings: PretrainSettings = PretrainSettings(),
    out: str | Path | None = None,
    *,
    threads: int = 0,
    force: bool = False,
    log=print,
) -> Path:
    """The pretrained file for ``settings`` (trained only when missing or stale)."""
    path = Path(out) if out is not None else settings.default_path()
    found = read_settings(path)
    if found == asdict(settings):
        log(f"{path}: pretrained weights with these settings exist; reused")
        return path
    if path.exists() and not force:
        why = "other settings" if found is not None else "a file that is not a vireid ViT pretraining output"
        raise ConfigError(f"{path}: holds {why}; pass --force to replace it or --out for another path")
    info = pretrain(settings, path, threads=threads, log=log)
    log(
        f"{path}: written; pretraining took {info['seconds'] / 60:.1f} min "
        f"({info['data_seconds']:.0f} s generating the set)"
    )
    return path


def parse_overrides(items: list[str]) -> dict[str, Any]:
    import yaml

    known = {f.name: f for f in fields(PretrainSettings)}
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in known:
            raise ConfigError(f"{item!r}: expected key=value with key one of {', '.join(known)}")
        out[key] = yaml.safe_load(raw)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.vit_pretrain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("overrides", nargs="*", metavar="key=value")
    ap.add_argument("--out", default=None, help="output .safetensors (default: data/pretrained/<arch>.safetensors)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="replace a file written with other settings")
    args = ap.parse_args(argv)
    try:
        settings = replace(PretrainSettings(), **parse_overrides(args.overrides))
        ensure_pretrained(settings, args.out, threads=args.threads, force=args.force)
    except VireidError as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
