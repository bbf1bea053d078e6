"""Attention maps overlaid on the input image: ABD-Net's CAM/PAM and ViT attention rollout.

* **PAM** (position attention, ABD-Net Sec. 3.1 / DANet Eq. 1): a forward hook recomputes the
  module's softmax attention ``S`` (N x N over positions, rows = queries) from its input; the
  map is the mean attention each position *receives*, ``mean_i S_ij``, on the feature grid.
* **CAM** (channel attention, ABD-Net Eq. 1) attends over channels, not positions, so it has
  no spatial attention of its own; the map is the per-position L2 norm over channels of the
  attention-refined features ``A X`` (before the ``gamma`` scale, which is 0 at
  initialisation) -- where the re-weighted channels respond, as ABD-Net's figures show
  attentive feature maps.
* **ViT attention rollout** (Abnar & Zuidema, ACL 2020, Sec. 3): our ViT uses
  ``scaled_dot_product_attention``, which returns no weights, so a hook on every
  :class:`vireid.models.vit.Attention` recomputes ``softmax(q k^T / sqrt(d))`` from the block's
  ``qkv`` projection.  Heads are averaged, the residual is added as ``0.5 A + 0.5 I`` (rows
  stay stochastic), and the layers are multiplied in execution order; the cls-token row over
  the patch tokens, reshaped to the patch grid, is the map.  For DEEN-ViT the stage-4 blocks
  run on the expanded batch (embedding-major); the original embedding (index 0) is followed.
  Token MFA between stages mixes tokens outside attention and is not part of the rollout.

All maps are taken in one eval-mode forward pass of the first image of the batch, no flip.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from vireid.errors import ShapeError, VireidError
from vireid.models.base import MODAL_VISIBLE, modality_to_modal
from vireid.viz._mpl import pyplot, save_figure
from vireid.viz.style import SEQUENTIAL, styled

KINDS = ("auto", "abd", "rollout")


# ----------------------------------------------------------------------------- capture
def _pam_map(module: nn.Module, x: Tensor) -> Tensor:
    b, _, h, w = x.shape
    q = module.query_conv(x).flatten(2).transpose(1, 2)
    k = module.key_conv(x).flatten(2)
    att = torch.softmax(q @ k, dim=-1)  # (B, N, N), rows = queries
    return att.mean(dim=1).reshape(b, h, w)  # attention received per position


def _cam_map(x: Tensor) -> Tensor:
    b, c, h, w = x.shape
    feat = x.flatten(2)
    energy = feat @ feat.transpose(1, 2)
    att = torch.softmax(energy.amax(dim=-1, keepdim=True) - energy, dim=-1)
    return (att @ feat).norm(dim=1).reshape(b, h, w)


@contextlib.contextmanager
def capture_abd_attention(model: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Hooks on every CAM/PAM of ``model``; yields ``{module name: (B, h, w) map}`` filled by forwards."""
    from vireid.models.abd import CAM, PAM

    maps: dict[str, Tensor] = {}
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, (CAM, PAM)):
            kind = "PAM" if isinstance(mod, PAM) else "CAM"

            def hook(m, inputs, output, _name=f"{kind} {name}", _pam=kind == "PAM"):
                with torch.no_grad():
                    x = inputs[0].detach().float()
                    maps[_name] = _pam_map(m, x) if _pam else _cam_map(x)

            handles.append(mod.register_forward_hook(hook))
    try:
        yield maps
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def capture_vit_attention(model: nn.Module) -> Iterator[list[Tensor]]:
    """Hooks on every ViT ``Attention``; yields a list of (B, heads, N, N) probabilities in call order."""
    from vireid.models.vit import Attention

    probs: list[Tensor] = []

    def hook(m, inputs, output):
        with torch.no_grad():
            x = inputs[0].detach()
            b, n, _ = x.shape
            q, k, _v = m.qkv(x).reshape(b, n, 3, m.num_heads, m.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
            probs.append(torch.softmax((q @ k.transpose(-2, -1)) * m.scale, dim=-1).float())

    handles = [mod.register_forward_hook(hook) for mod in model.modules() if isinstance(mod, Attention)]
    try:
        yield probs
    finally:
        for h in handles:
            h.remove()


def attention_rollout(probs: Sequence[Tensor], residual: float = 0.5) -> Tensor:
    """Rollout (Abnar & Zuidema 2020) of per-layer (heads, N, N) attention of one image -> (N, N)."""
    if not probs:
        raise ShapeError("attention rollout needs at least one attention layer")
    n = probs[0].shape[-1]
    eye = torch.eye(n, dtype=torch.float64)
    rollout = eye.clone()
    for a in probs:
        if a.shape[-1] != n:
            raise ShapeError(f"attention layers disagree on the token count ({a.shape[-1]} vs {n})")
        a = a.double().mean(0) if a.dim() == 3 else a.double()
        a = residual * eye + (1 - residual) * a
        a = a / a.sum(-1, keepdim=True)
        rollout = a @ rollout
    return rollout


def _forward(model: nn.Module, images: Tensor, modality: str | int) -> None:
    modal = modality_to_modal(modality)
    x_vis, x_ir = (images, None) if modal == MODAL_VISIBLE else (None, images)
    model(x_vis, x_ir, modal)


@torch.no_grad()
def attention_maps(model: nn.Module, images: Tensor, modality: str | int, kind: str = "auto") -> dict[str, np.ndarray]:
    """``{name: (h, w) map}`` of the first image of a preprocessed batch (B, 3, H, W).

    ``kind``: ``"abd"`` (every CAM/PAM), ``"rollout"`` (ViT attention rollout) or ``"auto"``
    (whichever the model has).  Raises :class:`VireidError` when the model has neither.
    """
    from vireid.models.abd import CAM, PAM
    from vireid.models.vit import Attention

    if kind not in KINDS:
        raise VireidError(f"unknown attention kind {kind!r}; expected one of {', '.join(KINDS)}")
    has_abd = any(isinstance(m, (CAM, PAM)) for m in model.modules())
    has_vit = any(isinstance(m, Attention) for m in model.modules())
    asked = kind
    if kind == "auto":
        kind = "rollout" if has_vit else "abd"
    if (kind == "abd" and not has_abd) or (kind == "rollout" and not has_vit):
        if asked == "auto":
            lacks, hint = "CAM/PAM modules nor ViT attention blocks", ""
        elif kind == "abd":
            lacks = "CAM/PAM modules (build DEEN with abd_cam or abd_attention_branch)"
            hint = "; kind 'rollout' shows its ViT attention" if has_vit else ""
        else:
            lacks, hint = "ViT attention blocks", "; kind 'abd' shows its CAM/PAM" if has_abd else ""
        raise VireidError(f"this {type(model).__name__} has no {lacks} to visualise (kind {asked!r}{hint})")
    was_training = model.training
    model.eval()
    try:
        if kind == "abd":
            with capture_abd_attention(model) as maps:
                _forward(model, images[:1], modality)
            return {k: v[0].cpu().numpy() for k, v in maps.items()}
        with capture_vit_attention(model) as probs:
            _forward(model, images[:1], modality)
        grid = tuple(getattr(model, "grid_size", None) or model.patch_embed.grid_size)
        r = attention_rollout([p[0] for p in probs])
        cls_row = r[0, 1:]
        if cls_row.numel() != grid[0] * grid[1]:
            raise ShapeError(f"{cls_row.numel()} patch tokens do not fill the {grid[0]}x{grid[1]} grid")
        return {"attention rollout": cls_row.reshape(grid).cpu().numpy()}
    finally:
        model.train(was_training)


# ----------------------------------------------------------------------------- drawing
def overlay_heatmap(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = SEQUENTIAL) -> np.ndarray:
    """``image`` (H, W, 3) uint8 blended with ``heat`` (h, w) min-max scaled, resized bilinearly, coloured."""
    import matplotlib

    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ShapeError(f"overlay: expected an (H, W, 3) image, got {image.shape}")
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2:
        raise ShapeError(f"overlay: expected a 2-D heat map, got {heat.shape}")
    lo, hi = float(heat.min()), float(heat.max())
    heat = (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)
    big = np.asarray(Image.fromarray(heat, mode="F").resize((image.shape[1], image.shape[0]), Image.BILINEAR))
    colour = matplotlib.colormaps[cmap](np.clip(big, 0, 1))[..., :3] * 255.0
    out = (1 - alpha) * image.astype(np.float32) + alpha * colour
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@styled
def attention_figure(
    image: np.ndarray, maps: dict[str, np.ndarray], out: str | Path, *, alpha: float = 0.5, title: str | None = None
) -> Path:
    """The input image followed by one overlay per map, saved as a picture (:func:`save_figure`)."""
    if not maps:
        raise VireidError("no attention maps to draw")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(1.8 * (len(maps) + 1), 3.4), squeeze=False)
    axes[0, 0].imshow(image)
    axes[0, 0].set_title("input", fontsize=8)
    for ax, (name, heat) in zip(axes[0, 1:], maps.items(), strict=True):
        ax.imshow(overlay_heatmap(image, heat, alpha))
        ax.set_title(name, fontsize=7)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    import matplotlib

    scale = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=SEQUENTIAL)
    bar = fig.colorbar(scale, ax=list(axes[0, 1:]), orientation="horizontal", fraction=0.05, pad=0.04)
    bar.set_label("attention, scaled to [0, 1] within each map", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, out)


def attention_picture(
    model: Any, image: Any, modality: str, out: str | Path, *, kind: str = "auto", alpha: float = 0.5
) -> Path:
    """Attention overlays of one image for a :class:`vireid.inference.InferenceModel` (or a ReIDModel
    plus an already preprocessed (1, 3, H, W) tensor)."""
    from vireid.data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from vireid.utils.outputs import PICTURE, check_file, reading

    inputs = {
        "checkpoint": getattr(model, "source", None),
        "image": image if isinstance(image, (str, os.PathLike)) else None,
    }
    check_file(out, PICTURE, inputs=inputs)  # before any work
    if hasattr(model, "preprocess"):
        batch = model.preprocess(image)[:1]
        net, device = model.model, model.device
    else:
        batch, net = image, model
        device = next(net.parameters()).device
    try:
        maps = attention_maps(net, batch.to(device), modality, kind)
    except VireidError as exc:  # the model has no such attention: name the checkpoint it came from
        if inputs["checkpoint"] is None:
            raise
        raise VireidError(f"{inputs['checkpoint']}: {exc}") from None
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    shown = ((batch[0].cpu() * std + mean).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    with reading(inputs):
        return attention_figure(shown, maps, out, alpha=alpha, title=f"{type(net).__name__}, {modality}")
