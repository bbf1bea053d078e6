"""The matrix products of the scan, each the fastest kernel this torch build has for its shape
that accumulates in float32 (what the error bound of :mod:`vireid.search.exact` assumes).

* bf16, several queries: ``torch.mm`` (oneDNN).
* bf16, one query: ``torch.mv`` with oneDNN off, i.e. torch's own bf16 matrix-vector kernel, which
  streams the gallery once at close to memory bandwidth; oneDNN's matrix product reorders the
  gallery block first and takes two to three times as long for one query (RESULTS.md, search).
  The kernel is checked once per process against the bound (:func:`gemv_accumulates_in_fp32`).
* float32: numpy's BLAS where torch's is MKL on a non-Intel CPU (MKL runs AVX2 code there; numpy's
  OpenBLAS picks AVX-512 kernels), else ``torch.mm``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vireid.search.bounds import U_BF16, gamma

_GEMV: bool | None = None
_ENGINE: str | None = None


def gemv_accumulates_in_fp32() -> bool:
    """Whether torch's bf16 ``mv`` without oneDNN is within the float32-accumulation bound on random
    data (a kernel accumulating in bf16 would be off by ~100x the bound); computed once."""
    global _GEMV
    if _GEMV is None:
        g = torch.Generator().manual_seed(0)
        a = torch.randn(256, 2050, generator=g).bfloat16()
        x = torch.randn(2050, generator=g).bfloat16()
        out = torch.empty(256, dtype=torch.bfloat16)
        try:
            _mv(a, x, out)
        except RuntimeError:  # pragma: no cover - no such kernel in this build
            _GEMV = False
            return _GEMV
        exact = a.double() @ x.double()
        u = U_BF16 / (1 - U_BF16)
        bound = gamma(2050) * (a.double().abs() @ x.double().abs()) + u * out.double().abs() + 1e-30
        _GEMV = bool(((out.double() - exact).abs() <= bound).all())
    return _GEMV


def _mv(a: Tensor, x: Tensor, out: Tensor) -> None:
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        torch.mv(a, x, out=out)
    finally:
        torch.backends.mkldnn.enabled = enabled


def bf16_product(qs: Tensor, block: Tensor, out: Tensor) -> None:
    """``out = bf16(qs @ block.T)`` for bf16 ``qs`` (m, K) and a contiguous ``block`` (b, K)."""
    if qs.shape[0] == 1 and gemv_accumulates_in_fp32():
        _mv(block, qs[0], out[0])
    else:
        torch.mm(qs, block.T, out=out)


def fp32_engine() -> str:
    """``"numpy"`` where torch's float32 product is MKL on a non-Intel CPU, else ``"torch"``."""
    global _ENGINE
    if _ENGINE is None:
        vendor = ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                vendor = next((ln for ln in fh if ln.startswith("vendor_id")), "")
        except OSError:
            pass
        _ENGINE = "numpy" if torch.backends.mkl.is_available() and "AuthenticAMD" in vendor else "torch"
    return _ENGINE


def fp32_product(queries: Tensor, block: Tensor, out: Tensor) -> None:
    """``out = queries @ block.T`` in float32 (both contiguous float32)."""
    if fp32_engine() == "numpy":
        np.matmul(queries.numpy(), block.numpy().T, out=out.numpy())
    else:
        torch.mm(queries, block.T, out=out)
