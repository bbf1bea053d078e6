"""ABD-Net's attention modules: channel attention (CAM) and position attention (PAM).

Chen et al., "ABD-Net: Attentive but Diverse Person Re-Identification", ICCV 2019, Sec. 3.1,
Eqs. (1) (CAM) and the PAM of Sec. 3.1, themselves DANet's modules (Fu et al., "Dual
Attention Network for Scene Segmentation", CVPR 2019, Eqs. (1)-(4)).  Details follow the
authors' ``torchreid/components/attention.py``:

* **CAM** (no parameters besides ``gamma``): ``A = X X^T`` over channels (``X``: (C, H*W)),
  attention ``softmax_j(max_k A_ik - A_ij)`` (row-wise, no scaling), output
  ``gamma * (attention @ X) + x``.  The ``max - energy`` trick is kept: since softmax is
  shift invariant it *is* ``softmax(-A)``, i.e. each channel attends most to the channels
  it is least correlated with -- the published behaviour, not a numerical detail only.
* **PAM**: 1x1 convs (with bias) give query/key at ``C // reduction`` channels (8 in ABD-Net)
  and value at ``C``; ``S = Q^T K`` (N x N over positions, no scaling), attention
  ``softmax`` over the last (key) axis, output ``gamma * (V @ attention^T) + x``.

Both have a learnable scalar ``gamma`` initialised to 0, so each module is the identity at
initialisation and the residual path carries the input.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vireid.errors import ShapeError


def _check(x: Tensor, channels: int, name: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ShapeError(f"{name}: expected feature maps (B, {channels}, H, W), got {tuple(x.shape)}")


#: bytes of (C, C) matrices one CAM computes at once: a batch whose matrices need more is done in
#: chunks (each recomputed in backward instead of kept), so memory does not grow with the batch.
#: DEEN's attentive branch at the authors' batch has 144 samples (48 images x 3 DEE embeddings)
#: of 2048 x 2048: 2.4 GB per (B, C, C) tensor, and its step held four of them.
CAM_CHUNK_BYTES = 128 * 2**20


def channel_attention(feat: Tensor) -> Tensor:
    """``softmax(max - X X^T) X`` per sample of ``feat`` (B, C, N) (ABD-Net's CAM without gamma)."""
    energy = feat @ feat.transpose(1, 2)  # (B, C, C)
    energy = energy.amax(dim=-1, keepdim=True) - energy  # ABD-Net/DANet's trick
    return torch.softmax(energy, dim=-1) @ feat


class CAM(nn.Module):
    """Channel attention module; ``forward(x (B, C, H, W)) -> (B, C, H, W)``.

    The batch is split into chunks of at most :data:`CAM_CHUNK_BYTES` of attention matrices,
    each recomputed during backward (``torch.utils.checkpoint``): the same values, memory bounded
    by the chunk instead of growing with the batch."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        _check(x, self.in_channels, "CAM")
        b, c, h, w = x.shape
        feat = x.reshape(b, c, h * w)
        # traced (ONNX export with a dynamic batch): one piece, as a chunk split would be recorded
        # for the traced batch only
        per = None if torch.jit.is_tracing() else max(1, CAM_CHUNK_BYTES // (c * c * 4))
        if per is None or b <= per:
            out = channel_attention(feat)
        else:
            from torch.utils.checkpoint import checkpoint

            grad = torch.is_grad_enabled() and feat.requires_grad
            out = torch.cat(
                [
                    checkpoint(channel_attention, part, use_reentrant=False) if grad else channel_attention(part)
                    for part in feat.split(per)
                ]
            )
        return self.gamma * out.reshape(b, c, h, w) + x

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}"


class PAM(nn.Module):
    """Position attention module; ``forward(x (B, C, H, W)) -> (B, C, H, W)``."""

    def __init__(self, in_channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        inner = max(1, self.in_channels // int(reduction))
        self.query_conv = nn.Conv2d(self.in_channels, inner, kernel_size=1)
        self.key_conv = nn.Conv2d(self.in_channels, inner, kernel_size=1)
        self.value_conv = nn.Conv2d(self.in_channels, self.in_channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        _check(x, self.in_channels, "PAM")
        b, c, h, w = x.shape
        query = self.query_conv(x).flatten(2).transpose(1, 2)  # (B, N, C')
        key = self.key_conv(x).flatten(2)  # (B, C', N)
        attention = torch.softmax(query @ key, dim=-1)  # (B, N, N), rows = queries
        value = self.value_conv(x).flatten(2)  # (B, C, N)
        out = (value @ attention.transpose(1, 2)).reshape(b, c, h, w)
        return self.gamma * out + x
