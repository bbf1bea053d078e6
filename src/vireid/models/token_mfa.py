"""Token MFA: DEEN's multi-stage feature aggregation (CNL then PNL) on ViT patch tokens.

DEEN (Zhang & Wang, CVPR 2023, multistage feature aggregation; ``MFA_block`` in the authors'
``DEEN/model.py``) fuses a high-level map ``x_h`` with a low-level map ``x_l`` by a channel
non-local step (CNL) and a position non-local step (PNL), each ``z = x_h + Norm(W(y))`` with
the norm's affine initialised to zero, so the block starts as the identity.  Here
``x_h``/``x_l`` are (B, N, C) patch tokens on an (H, W) grid and the 1x1 convolutions become
``nn.Linear``.

Choices (docs/deen_vit.md, "Token MFA"):

* **Normalisation of the energy**: as the authors, no softmax; the energy is divided by
  the number of positions it sums over.  For PNL that is exactly their
  ``energy / energy.size(-1)`` (key positions).  Their CNL divides by ``size(-1)`` =
  the channel count; we divide by the number of positions (``energy / N``), which keeps
  the channel-covariance scale independent of the pooling below.
* **Pooling** (``pool`` per stage, default 1, 1, 2, 4 in DEEN-ViT): the
  low-level tokens are average-pooled ``pool x pool`` on the patch grid (adaptive, so grids
  that do not divide, e.g. 18x9, work) before attention.  PNL then attends from N queries
  to N / pool^2 keys; in CNL the high-level tokens are pooled the same way for the
  channel energy, while the values stay at full resolution (the output has N positions).
* Without softmax the attention is linear, so ``(theta phi^T) g`` is evaluated as
  ``theta (phi^T g)`` whenever that is cheaper (keys > inner channels): O(N C^2) instead
  of O(N M C), mathematically identical.
* **Output norm**: ``"bn"`` (DEEN's BatchNorm over channels, statistics over batch and
  positions) or ``"ln"`` (LayerNorm, per token); both zero-initialised.
* The cls token is not on the grid: MFA acts on patch tokens only (the caller keeps cls).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from vireid.errors import ConfigError, ShapeError


def pool_tokens(x: Tensor, grid_size: tuple[int, int], pool: int) -> Tensor:
    """Average-pool (B, H*W, C) tokens ``pool x pool`` on their grid -> (B, ceil(H/p)*ceil(W/p), C)."""
    if pool == 1:
        return x
    b, n, c = x.shape
    h, w = grid_size
    grid = x.transpose(1, 2).reshape(b, c, h, w)
    out = F.adaptive_avg_pool2d(grid, (math.ceil(h / pool), math.ceil(w / pool)))
    return out.flatten(2).transpose(1, 2)


class TokenNorm(nn.Module):
    """Zero-initialised output norm of a non-local step: ``"bn"`` (over B and N) or ``"ln"`` (per token)."""

    def __init__(self, dim: int, kind: str = "bn") -> None:
        super().__init__()
        if kind == "bn":
            self.norm: nn.Module = nn.BatchNorm1d(dim)
        elif kind == "ln":
            self.norm = nn.LayerNorm(dim, eps=1e-6)
        else:
            raise ConfigError(f"mfa_norm: unknown {kind!r}; expected 'bn' or 'ln'")
        self.kind = kind
        nn.init.zeros_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "bn":
            return self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.norm(x)


class TokenCNL(nn.Module):
    """Channel non-local: ``y_n = A g(x_l)_n`` with ``A = theta(x_h)^T phi(x_l) / M`` (C' x C')."""

    def __init__(self, dim: int, inner_dim: int | None = None, norm: str = "bn") -> None:
        super().__init__()
        inner = inner_dim or dim
        self.g, self.theta, self.phi = nn.Linear(dim, inner), nn.Linear(dim, inner), nn.Linear(dim, inner)
        self.proj = nn.Linear(inner, dim)
        self.norm = TokenNorm(dim, norm)

    def forward(self, x_h: Tensor, x_l: Tensor, grid_size: tuple[int, int], pool: int = 1) -> Tensor:
        g = self.g(x_l)  # (B, N, C') values at full resolution
        th = self.theta(pool_tokens(x_h, grid_size, pool))  # (B, M, C')
        ph = self.phi(pool_tokens(x_l, grid_size, pool))  # (B, M, C')
        attn = th.transpose(1, 2) @ ph / ph.shape[1]  # (B, C', C')
        y = g @ attn.transpose(1, 2)  # y_n,c = sum_c' A[c, c'] g_n,c'
        return x_h + self.norm(self.proj(y))


class TokenPNL(nn.Module):
    """Position non-local: ``y = theta(x_h) phi(x_l)^T g(x_l) / M`` (N queries, M pooled keys)."""

    def __init__(self, dim: int, reduction: int = 2, norm: str = "bn") -> None:
        super().__init__()
        inner = max(1, dim // reduction)
        self.g, self.theta, self.phi = nn.Linear(dim, inner), nn.Linear(dim, inner), nn.Linear(dim, inner)
        self.proj = nn.Linear(inner, dim)
        self.norm = TokenNorm(dim, norm)

    def forward(self, x_h: Tensor, x_l: Tensor, grid_size: tuple[int, int], pool: int = 1) -> Tensor:
        low = pool_tokens(x_l, grid_size, pool)
        th, ph, g = self.theta(x_h), self.phi(low), self.g(low)  # (B, N, C'), (B, M, C'), (B, M, C')
        m, inner = ph.shape[1], ph.shape[2]
        if m > inner:  # linear attention: associate the cheaper way
            y = th @ (ph.transpose(1, 2) @ g) / m
        else:
            y = (th @ ph.transpose(1, 2) / m) @ g
        return x_h + self.norm(self.proj(y))


class TokenMFA(nn.Module):
    """One MFA block on patch tokens: CNL(x_h, x_l) then PNL(., x_l); starts as the identity."""

    def __init__(self, dim: int, pool: int = 1, norm: str = "bn", pnl_reduction: int = 2) -> None:
        super().__init__()
        if int(pool) < 1:
            raise ConfigError(f"mfa_pool: pooling factors must be >= 1, got {pool}")
        self.pool = int(pool)
        self.cnl = TokenCNL(dim, norm=norm)
        self.pnl = TokenPNL(dim, pnl_reduction, norm=norm)

    def forward(self, x_h: Tensor, x_l: Tensor, grid_size: tuple[int, int]) -> Tensor:
        if x_h.shape != x_l.shape or x_h.dim() != 3 or x_h.shape[1] != grid_size[0] * grid_size[1]:
            raise ShapeError(
                f"TokenMFA: expected high/low tokens (B, {grid_size[0] * grid_size[1]}, C) of the same "
                f"shape, got {tuple(x_h.shape)} and {tuple(x_l.shape)}"
            )
        z = self.cnl(x_h, x_l, grid_size, self.pool)
        return self.pnl(z, x_l, grid_size, self.pool)

    def extra_repr(self) -> str:
        return f"pool={self.pool}"
