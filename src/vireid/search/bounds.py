"""Ingredients of the exact scan's error bound: unit roundoffs, ``gamma_n`` and the bf16 copy
of a gallery with its norms (see :mod:`vireid.search.exact` for the error model)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

U_FP32 = 2.0**-24  # unit roundoff of float32 (round to nearest)
U_BF16 = 2.0**-8  # unit roundoff of bfloat16 (8-bit significand)


def gamma(n: int) -> float:
    """Higham's gamma_n for float32: the relative error bound of an n-term dot product."""
    return n * U_FP32 / (1.0 - n * U_FP32)


@dataclass(frozen=True)
class Bf16Gallery:
    """A gallery prepared for the bf16 scan: ``data`` (N, D + 2) bfloat16 holds ``bf16(g)``, a
    column of ones (the offset's) and a zero column (even length); ``norm`` = max ``|bf16(g)|``,
    ``err`` = max ``|bf16(g) - g|`` over rows (float64), for the error bound."""

    data: Tensor
    norm: float
    err: float

    @property
    def nbytes(self) -> int:
        return self.data.numel() * self.data.element_size()


def prepare_bf16(gallery: Tensor, chunk: int = 16384) -> Bf16Gallery:
    """The bf16 copy of ``gallery`` (N, D) used by :func:`exact_topk` (half the float32 size)."""
    n, d = gallery.shape
    data = torch.zeros(n, d + 2, dtype=torch.bfloat16)
    data[:, d] = 1
    norm = err = 0.0
    for a in range(0, n, chunk):
        g = gallery[a : a + chunk]
        gb = g.to(torch.bfloat16)
        data[a : a + chunk, :d] = gb
        gb64 = gb.double()
        norm = max(norm, float(gb64.norm(dim=1).max()))
        err = max(err, float((gb64 - g.double()).norm(dim=1).max()))
    return Bf16Gallery(data, norm, err)


def max_norm(gallery: Tensor, chunk: int = 16384) -> float:
    """An upper bound of the largest row norm of ``gallery`` (float32 norms, rounding allowed for)."""
    top = max(float(gallery[a : a + chunk].norm(dim=1).max()) for a in range(0, gallery.shape[0], chunk))
    return top * (1 + 2 * gamma(gallery.shape[1] + 2))


def bf16_error(queries: Tensor, queries_bf16: Tensor, prepared: Bf16Gallery) -> Tensor:
    """Per query, a bound of ``|acc(bf16(q) . bf16(g)) - q . g|`` over the gallery rows, for a
    float32 accumulation (an extra offset term ``c`` adds ``gamma(D + 2) |c|``)."""
    q64, qb64 = queries.double(), queries_bf16.double()
    qn = q64.norm(dim=1)
    eps = (
        (qb64 - q64).norm(dim=1) * prepared.norm
        + qn * prepared.err
        + gamma(queries.shape[1] + 2) * qb64.norm(dim=1) * prepared.norm
    )
    return _slack(eps, queries.shape[1], qn, prepared.norm)


def fp32_error(queries: Tensor, g_max: float) -> Tensor:
    """Per query, a bound of the float32 product's error against any row of norm <= ``g_max``."""
    qn = queries.double().norm(dim=1)
    return _slack(gamma(queries.shape[1]) * qn * g_max, queries.shape[1], qn, g_max)


def _slack(eps: Tensor, d: int, qn: Tensor, g_max: float) -> Tensor:
    """Plus flushed subnormals (at most 2^-126 per operation) and room for float64 rounding."""
    return (eps + (d + 3) * 2.0**-125 * (1 + qn + g_max)) * (1 + 1e-6)
