"""Vision Transformer (Dosovitskiy et al., ICLR 2021) with timm's names, in plain PyTorch.

The state-dict keys (``cls_token``, ``pos_embed``, ``patch_embed.proj.*``,
``blocks.{i}.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2``, ``norm``, ``head``) and
the constructor keyword arguments are those of timm's ``VisionTransformer``, so a timm
checkpoint loads strictly (:mod:`vireid.models.vit_weights`) and ``forward_features``
equals timm's for the same weights (pre-norm blocks, LayerNorm eps 1e-6, exact GELU,
qkv laid out as (3, heads, head_dim), scale ``head_dim ** -0.5``, LayerScale only when
``init_values`` is set, linearly increasing drop-path rates).

One addition (TransReID, He et al., ICCV 2021): ``patch_stride`` < ``patch_size`` gives
overlapping patches; the grid is then ``(H - patch) // stride + 1`` per side, as
TransReID (trailing pixels that do not fill a stride are dropped, as there).
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from vireid.errors import ConfigError, ShapeError


def to_2tuple(x: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(x, int):
        return (x, x)
    t = tuple(int(v) for v in x)
    if len(t) != 2:
        raise ConfigError(f"{name}: expected an int or (height, width), got {x!r}")
    return t  # type: ignore[return-value]


def layer_norm(dim: int) -> nn.LayerNorm:
    """timm's ViT LayerNorm (eps 1e-6)."""
    return nn.LayerNorm(dim, eps=1e-6)


def drop_path(x: Tensor, p: float, training: bool) -> Tensor:
    """Stochastic depth (Huang et al., 2016): drop whole residual branches per sample, rescale by 1/keep."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask.div_(keep) if keep > 0 else x * mask


class DropPath(nn.Module):
    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerScale(nn.Module):
    """CaiT's per-channel residual scale (``gamma``, as timm)."""

    def __init__(self, dim: int, init_values: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class PatchEmbed(nn.Module):
    """Image -> patch tokens (B, N, C) with a strided convolution (``proj``), row-major grid."""

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int | Sequence[int] = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        stride: int | Sequence[int] | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.img_size = to_2tuple(img_size, "img_size")
        self.patch_size = to_2tuple(patch_size, "patch_size")
        self.stride = self.patch_size if stride is None else to_2tuple(stride, "patch_stride")
        self.in_chans = in_chans
        for side, size, patch, step in zip(
            ("height", "width"), self.img_size, self.patch_size, self.stride, strict=True
        ):
            if step < 1 or step > patch:
                raise ConfigError(f"patch_stride {self.stride} must be in [1, patch_size {self.patch_size}]")
            if size < patch:
                raise ConfigError(f"image {side} {size} is smaller than the patch size {patch}")
            if step == patch and size % patch:
                raise ConfigError(
                    f"image {side} {size} is not divisible by the patch size {patch}; "
                    f"use a multiple of {patch} (e.g. {size - size % patch} or {size - size % patch + patch})"
                )
        self.grid_size = tuple(
            (s - p) // st + 1 for s, p, st in zip(self.img_size, self.patch_size, self.stride, strict=True)
        )
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, self.patch_size, self.stride, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_chans or tuple(x.shape[2:]) != self.img_size:
            raise ShapeError(
                f"patch embedding: expected images (B, {self.in_chans}, {self.img_size[0]}, "
                f"{self.img_size[1]}), got {tuple(x.shape)}"
            )
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention`` (timm's ``Attention``)."""

    def __init__(
        self, dim: int, num_heads: int = 8, qkv_bias: bool = False, attn_drop: float = 0.0, proj_drop: float = 0.0
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim**-0.5
        self.attn_drop = float(attn_drop)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm Transformer encoder block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        init_values: float | None = None,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), proj_drop)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """timm's stochastic-depth rule: linear from 0 to ``rate`` over the blocks."""
    return [x.item() for x in torch.linspace(0, rate, depth, device="cpu")] if depth > 0 else []


def init_vit_weights_(module: nn.Module) -> None:
    """timm's default ViT init: trunc-normal(0.02) Linear weights, zero biases; the rest as PyTorch."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def run_blocks(blocks: Sequence[nn.Module], x: Tensor, grad_checkpointing: bool = False) -> Tensor:
    """Apply ``blocks`` in order, optionally with activation checkpointing (only while grads are needed)."""
    use_ckpt = grad_checkpointing and torch.is_grad_enabled()
    for blk in blocks:
        x = checkpoint(blk, x, use_reentrant=False) if use_ckpt else blk(x)
    return x


def prefix_and_position(x: Tensor, cls_token: Tensor | None, pos_embed: Tensor, pos_drop: nn.Module) -> Tensor:
    """Patch tokens (B, N, C) -> (B, prefix + N, C): prepend the cls token, add position embeddings,
    dropout (timm's ``VisionTransformer._pos_embed`` without registers)."""
    if cls_token is not None:
        x = torch.cat((cls_token.expand(x.shape[0], -1, -1), x), dim=1)
    return pos_drop(x + pos_embed)


class VisionTransformer(nn.Module):
    """ViT with timm's constructor arguments and state-dict names (see the module docstring).

    ``global_pool``: ``"token"`` (cls token), ``"avg"`` (mean of patch tokens; as timm, the final
    norm then moves after pooling into ``fc_norm``) or ``""`` (no pooling).
    ``num_classes=0`` gives no head.  ``weight_init="skip"`` leaves PyTorch's defaults.
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int | Sequence[int] = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: Literal["", "avg", "token"] = "token",
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        init_values: float | None = None,
        class_token: bool = True,
        pre_norm: bool = False,
        final_norm: bool = True,
        fc_norm: bool | None = None,
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        weight_init: Literal["", "skip"] = "",
        patch_stride: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if global_pool not in ("", "avg", "token"):
            raise ConfigError(f"global_pool: unknown {global_pool!r}; expected 'token', 'avg' or ''")
        if global_pool == "token" and not class_token:
            raise ConfigError("global_pool='token' needs class_token=True")
        if depth < 0 or embed_dim < 1:
            raise ConfigError(f"invalid ViT size: embed_dim={embed_dim}, depth={depth}")
        use_fc_norm = global_pool == "avg" if fc_norm is None else fc_norm
        self.num_classes, self.global_pool, self.embed_dim = num_classes, global_pool, embed_dim
        self.num_features = embed_dim
        self.num_prefix_tokens = 1 if class_token else 0
        self.grad_checkpointing = False

        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, patch_stride, bias=not pre_norm)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + self.num_prefix_tokens, embed_dim))
        self.pos_drop = nn.Dropout(pos_drop_rate)
        self.norm_pre = layer_norm(embed_dim) if pre_norm else nn.Identity()
        dpr = drop_path_rates(drop_path_rate, depth)
        self.blocks = nn.Sequential(
            *[
                Block(embed_dim, num_heads, mlp_ratio, qkv_bias, proj_drop_rate, attn_drop_rate, init_values, dpr[i])
                for i in range(depth)
            ]
        )
        self.norm = layer_norm(embed_dim) if final_norm and not use_fc_norm else nn.Identity()
        self.fc_norm = layer_norm(embed_dim) if final_norm and use_fc_norm else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        if weight_init != "skip":
            self.init_weights()

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.patch_embed.grid_size  # type: ignore[return-value]

    def init_weights(self) -> None:
        """timm's default init: pos_embed trunc-normal(0.02), cls_token normal(1e-6), Linear trunc-normal(0.02)."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        init_vit_weights_(self)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = bool(enable)

    def _pos_embed(self, x: Tensor) -> Tensor:
        return prefix_and_position(x, self.cls_token, self.pos_embed, self.pos_drop)

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, in_chans, H, W) -> tokens (B, prefix + N, C) after the final norm (timm's ``forward_features``)."""
        x = self.norm_pre(self._pos_embed(self.patch_embed(x)))
        return self.norm(run_blocks(self.blocks, x, self.grad_checkpointing))

    def pool(self, x: Tensor) -> Tensor:
        if self.global_pool == "token":
            return x[:, 0]
        if self.global_pool == "avg":
            return x[:, self.num_prefix_tokens :].mean(dim=1)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.head_drop(self.fc_norm(self.pool(x)))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# name -> (embed_dim, depth, num_heads): the timm presets.
VIT_SIZES: dict[str, tuple[int, int, int]] = {"tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12)}


def vit_kwargs(size: str) -> dict:
    """Constructor kwargs of the ``size`` preset (``tiny``/``small``/``base``), patch 16."""
    if size not in VIT_SIZES:
        raise ConfigError(f"unknown ViT size {size!r}; expected one of {', '.join(VIT_SIZES)}")
    dim, depth, heads = VIT_SIZES[size]
    return dict(patch_size=16, embed_dim=dim, depth=depth, num_heads=heads)


def grid_hw(num_tokens: int) -> int:
    """Side of a square grid of ``num_tokens`` tokens (for checkpoints that do not store their grid)."""
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ShapeError(f"{num_tokens} position embeddings do not form a square grid; pass old_size")
    return side
