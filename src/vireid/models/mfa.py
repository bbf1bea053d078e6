"""DEEN's multistage feature aggregation (MFA) block: CNL then PNL.

Zhang & Wang, "Diverse Embedding Expansion Network and Low-Light
Cross-Modality Benchmark for Visible-Infrared Person Re-identification",
CVPR 2023 (the paper's section on multistage feature aggregation: CNL, then PNL).  A non-local
block whose query comes from the
current stage output ``x_h`` (high-level, ``high_dim`` channels) and whose key /
value come from the previous MFA output ``x_l`` (low-level, ``low_dim``
channels).  The output projection ends in a BatchNorm initialised to zero, so
a fresh block is the identity on ``x_h``.

Both modules reproduce the authors' code (``DEEN/model.py`` of ZYK100/LLCM)
operation by operation -- including its reshapes, which differ from the
equations in the paper (see :class:`PNL`) -- so that their checkpoints give
identical outputs.  Note the authors' convolutions here keep their biases and
PyTorch's default initialisation.
"""

from __future__ import annotations

from torch import Tensor, nn


class _OutProjection(nn.Sequential):
    """1x1 conv ``in -> out`` (optionally stride 2) then BatchNorm with weight = bias = 0."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride)
        self.bn = nn.BatchNorm2d(out_channels)
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)


class CNL(nn.Module):
    """Channel non-local aggregation (the paper's CNL).

    ``theta(x_h)`` (B, low, N_h) times ``phi(x_l)^T`` gives a (low x low) channel
    affinity, scaled by ``1 / low_dim`` (the authors divide by the affinity's last
    dimension; no softmax), applied to ``g(x_l)`` (B, low, N_l).  ``stride2`` (the authors' ``flag=1``) is used when
    ``x_l`` has twice the resolution of ``x_h``: ``phi`` and the output
    projection then stride by 2 so the positions line up.
    """

    def __init__(self, high_dim: int, low_dim: int, stride2: bool = False) -> None:
        super().__init__()
        self.high_dim, self.low_dim = high_dim, low_dim
        s = 2 if stride2 else 1
        self.g = nn.Conv2d(low_dim, low_dim, 1)
        self.theta = nn.Conv2d(high_dim, low_dim, 1)
        self.phi = nn.Conv2d(low_dim, low_dim, 1, stride=s)
        self.out = _OutProjection(low_dim, high_dim, stride=s)

    def forward(self, x_h: Tensor, x_l: Tensor) -> Tensor:
        b = x_h.shape[0]
        value = self.g(x_l).reshape(b, self.low_dim, -1)  # (B, low, N_l)
        query = self.theta(x_h).reshape(b, self.low_dim, -1)  # (B, low, N_h)
        key = self.phi(x_l).reshape(b, self.low_dim, -1).transpose(1, 2)  # (B, N_h, low)
        affinity = query @ key  # (B, low, low)
        affinity = affinity / affinity.shape[-1]
        y = (affinity @ value).reshape(b, self.low_dim, *x_l.shape[2:])
        return self.out(y) + x_h


def linear_attention(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """``(query @ key / M) @ value`` for query (B, Q, C), key (B, C, M), value (B, M, C').

    The authors' non-local blocks scale the affinity by ``1 / M`` with no softmax, so the
    product is associative: ``query @ (key @ value / M)`` is the same value (up to float
    rounding) for ``B C C' (Q + M)`` multiply-adds instead of ``B Q M (C + C')``, and
    without the (Q x M) affinity kept for backward.  The other order is taken only where it
    pays: at least 4x fewer multiply-adds and an affinity of at least 65536 entries per
    sample (smaller products cost little either way, and keep the authors' rounding bit for
    bit).  At DEEN's 288x144 input, MFA1's PNL (Q = M = 1296, C = C' = 64) needs 20x fewer.
    """
    q, c = query.shape[1], query.shape[2]
    m, c_out = key.shape[2], value.shape[2]
    if q * m >= 65536 and 4 * c * c_out * (q + m) <= q * m * (c + c_out):
        return query @ ((key @ value) / m)
    return (query @ key / m) @ value


class PNL(nn.Module):
    """Pixel (position) non-local aggregation (the paper's PNL), as the authors coded it.

    The projections map to ``low_dim // 2`` channels (``reduction=2``), but the
    authors then reshape them with ``.view(B, low_dim, -1)`` -- i.e. as if they
    had ``low_dim`` channels.  On a contiguous (B, low/2, H, W) tensor this
    groups the flattened (channel, position) values into rows of ``H*W/2``
    entries, so every "position" of the affinity mixes two channels' halves of
    the image, and ``H*W`` must be even.  We reproduce these reshapes exactly
    (``reshape`` on the contiguous conv outputs == their ``view``) because
    identical outputs for their checkpoints depend on it.  The attention product is
    evaluated in the cheaper association (:func:`linear_attention`): equal to the
    authors' order to float rounding, and far cheaper at stride 4.
    """

    def __init__(self, high_dim: int, low_dim: int, reduction: int = 2) -> None:
        super().__init__()
        self.high_dim, self.low_dim = high_dim, low_dim
        self.reduced = low_dim // reduction
        self.g = nn.Conv2d(low_dim, self.reduced, 1)
        self.theta = nn.Conv2d(high_dim, self.reduced, 1)
        self.phi = nn.Conv2d(low_dim, self.reduced, 1)
        self.out = _OutProjection(self.reduced, high_dim)

    def forward(self, x_h: Tensor, x_l: Tensor) -> Tensor:
        b = x_h.shape[0]
        # The authors' reshapes: (B, low/2, H, W) viewed as (B, low, H*W/2) -- mixes
        # channels and positions (see class docstring); kept for checkpoint parity.
        value = self.g(x_l).reshape(b, self.low_dim, -1).transpose(1, 2)  # (B, N_l/2, low)
        query = self.theta(x_h).reshape(b, self.low_dim, -1).transpose(1, 2)  # (B, N_h/2, low)
        key = self.phi(x_l).reshape(b, self.low_dim, -1)  # (B, low, N_l/2)
        y = linear_attention(query, key, value).transpose(1, 2).contiguous()  # (B, low, N_h/2)
        y = y.reshape(b, self.reduced, *x_h.shape[2:])
        return self.out(y) + x_h


class MFABlock(nn.Module):
    """``PNL(CNL(x_h, x_l), x_l)``: aggregate the previous stage's features into the current one."""

    def __init__(self, high_dim: int, low_dim: int, stride2: bool) -> None:
        super().__init__()
        self.cnl = CNL(high_dim, low_dim, stride2)
        self.pnl = PNL(high_dim, low_dim)

    def forward(self, x_h: Tensor, x_l: Tensor) -> Tensor:
        return self.pnl(self.cnl(x_h, x_l), x_l)
