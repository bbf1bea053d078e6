"""Ingredients of the exact scan's error bound: unit roundoffs, ``gamma_n``, and the one pass over a
gallery that validates it, builds its bf16 copy and bounds its norms (see :mod:`vireid.search.exact`
for the error model)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Union

import torch
from torch import Tensor

from vireid.errors import ShapeError

U_FP32 = 2.0**-24  # unit roundoff of float32 (round to nearest)
U_BF16 = 2.0**-8  # unit roundoff of bfloat16 (8-bit significand)
CHUNK_BYTES = 1 << 19  # float32 rows per step of the pass: the chunk and its bf16 copy stay in L2

Rows = Union[Tensor, Callable[[int, int], Tensor]]  # a (N, D) tensor, or rows(a, b) -> rows a:b


def gamma(n: int) -> float:
    """Higham's gamma_n for float32: the relative error bound of an n-term dot product."""
    return n * U_FP32 / (1.0 - n * U_FP32)


def norm_bound(computed: float, d: int) -> float:
    """An upper bound of a row norm computed in float32 as ``computed`` (sum of ``d`` squares in
    any order: relative error ``gamma(d + 2)`` with the square root; squares that underflow, even
    flushed to zero, lose at most ``d 2^-126`` of the sum)."""
    return computed * (1 + 2 * gamma(d + 2)) + math.sqrt(d) * 2.0**-62


@dataclass(frozen=True)
class Bf16Gallery:
    """A gallery prepared for the bf16 scan: ``data`` (N, D + 2) bfloat16 holds ``bf16(g)``, a
    column of ones (the offset's) and a zero column (even length); ``norm`` >= max ``|bf16(g)|``,
    ``err`` >= max ``|bf16(g) - g|`` over rows, for the error bound."""

    data: Tensor
    norm: float
    err: float

    @property
    def nbytes(self) -> int:
        return self.data.numel() * self.data.element_size()


def scan_gallery(rows: Rows, n: int, d: int, *, bf16: bool, where: str = "gallery") -> tuple[Bf16Gallery | None, float]:
    """One pass over the float32 gallery (N, D): checks that every value is finite, builds the bf16
    copy (``bf16=True``) and bounds the row norms; returns ``(copy or None, bound of max |g|)``.

    ``rows`` is the tensor or a function returning rows ``a:b`` (e.g. read from a file).  The pass
    goes in chunks of :data:`CHUNK_BYTES` on one thread: each chunk is converted, widened back and
    subtracted while it is in cache, so the memory traffic is one read of the gallery and one write
    of the copy, and nothing but the copy and two floats per row is allocated.  A row whose norm is
    not finite is looked at again: NaN or inf in it is refused (:class:`ShapeError` naming ``where``
    and the row); finite values too large for a float32 norm give an infinite bound (the scan then
    falls back to float64)."""
    get = rows.__getitem__ if isinstance(rows, Tensor) else None
    step = max(1, CHUNK_BYTES // (4 * d))
    threads = torch.get_num_threads()
    data = gb_norm = err = None
    if bf16:
        data = torch.empty(n, d + 2, dtype=torch.bfloat16)
        gb_norm, err = torch.empty(n), torch.empty(n)
        wide = torch.empty(step, d)
    g_norm = torch.empty(n) if not bf16 else None
    try:
        torch.set_num_threads(1)
        for a in range(0, n, step):
            b = min(n, a + step)
            g = get(slice(a, b)) if get is not None else rows(a, b)
            if not bf16:
                torch.linalg.vector_norm(g, dim=1, out=g_norm[a:b])
                continue
            dst, w = data[a:b, :d], wide[: b - a]
            dst.copy_(g)  # round to nearest even
            w.copy_(dst)  # exact
            torch.linalg.vector_norm(w, dim=1, out=gb_norm[a:b])
            torch.linalg.vector_norm(w.sub_(g), dim=1, out=err[a:b])  # the difference is exact (Sterbenz)
        if bf16:
            data[:, d] = 1
            data[:, d + 1] = 0
    finally:
        torch.set_num_threads(threads)
    check = gb_norm if bf16 else g_norm
    bad = (~torch.isfinite(check)).nonzero().flatten()
    for i in bad.tolist():
        row = get(slice(i, i + 1)) if get is not None else rows(i, i + 1)
        if not bool(torch.isfinite(row).all()):
            raise ShapeError(f"{where}: row {i} contains NaN or inf")
    if not bf16:
        return None, norm_bound(float(g_norm.max()), d) if not len(bad) else math.inf
    top, e = float(gb_norm.max()), float(err.max())
    if len(bad) or not math.isfinite(e):
        return Bf16Gallery(data, math.inf, math.inf), math.inf
    norm, err_max = norm_bound(top, d), norm_bound(e, d)
    return Bf16Gallery(data, norm, err_max), norm + err_max  # |g| <= |bf16(g)| + |g - bf16(g)|


def _source(gallery) -> Rows:
    """A tensor gallery as float32 contiguous, or the ``rows`` of a FeatsFile."""
    return gallery.float().contiguous() if isinstance(gallery, Tensor) else gallery.rows


def prepare_bf16(gallery, chunk: int | None = None) -> Bf16Gallery:
    """The bf16 copy of ``gallery`` (N, D) used by :func:`exact_topk` (half the float32 size), from
    :func:`scan_gallery` (``chunk`` is ignored: the pass sizes its chunks for the cache)."""
    prepared, _ = scan_gallery(_source(gallery), gallery.shape[0], gallery.shape[1], bf16=True)
    return prepared


def max_norm(gallery, chunk: int | None = None) -> float:
    """An upper bound of the largest row norm of ``gallery`` (float32 norms, rounding allowed for),
    from :func:`scan_gallery`."""
    return scan_gallery(_source(gallery), gallery.shape[0], gallery.shape[1], bf16=False)[1]


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
