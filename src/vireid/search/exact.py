"""Exact top-k inner-product search by a reduced-precision scan and exact rescoring.

The scan (bfloat16 on CPUs with native bf16 dot products, float32 elsewhere) computes every
query-gallery score with a **proven error bound** ``eps`` and keeps, per query, every gallery
row whose score could still reach the query's exact k-th score; those rows are then rescored
in float64 and ranked.  Nothing is rescanned when scores are close: the candidate set grows
with the number of near-ties instead (a query tied with more than :data:`~vireid.search.scan.CAP`
rows is searched in float64).  The result equals sorting the float64 products.

Error model (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eqs. 3.4-3.5):
a dot product of ``n`` terms accumulated in any order in a format of unit roundoff ``u``
(float32: 2^-24) is within ``gamma_n = n u / (1 - n u)`` times ``sum |x_i y_i|`` of its exact
value.  With ``qb``, ``gb`` the bf16 roundings of ``q``, ``g``,
``|fl(qb . gb) - q . g| <= |qb - q| |gb| + |q| |gb - g| + gamma_n |qb| |gb|`` (Cauchy-Schwarz).
bf16 matrix products round their float32 result to bf16 (unit roundoff 2^-8), which would
dwarf that bound near a score of 1; so each query carries an offset ``-c`` in an extra
column (the gallery a column of ones) and the product returns ``bf16(q . g - c)``, whose
rounding is relative to ``|q . g - c|``, small for the scores near ``c`` that matter.

Per query, ``T`` is the k-th largest lower bound seen so far (a lower bound of the exact k-th
score); a score is kept while its upper bound reaches ``T``.  The first gallery block sets
``T`` from float64 bounds of all its scores; later blocks use ``c`` just below ``T - eps``, so
that the threshold is positive and the bf16 scores can be compared as int16 (positive floats
order like their bit patterns): per-64-column maxima first, single scores only in chunks that
pass.  The float32 scan needs no offset (its products are not rounded to bf16).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from vireid.core.device import cpu_has_native_bf16
from vireid.errors import ShapeError
from vireid.search.bounds import Bf16Gallery, max_norm, prepare_bf16
from vireid.search.feats_file import FeatsFile
from vireid.search.scan import scan_topk

__all__ = ["Bf16Gallery", "exact_topk", "max_norm", "prepare_bf16"]


def exact_topk(
    queries: Tensor,
    gallery: Tensor | FeatsFile,
    k: int,
    block: int | None = None,
    *,
    bf16: bool | None = None,
    gallery_bf16: Bf16Gallery | Tensor | None = None,
    gallery_bounds: tuple[float, float] | None = None,
    candidates: int | None = None,
    stats: dict | None = None,
) -> tuple[Tensor, Tensor]:
    """Exact top-``k`` inner products of ``queries`` (Q, D) against ``gallery`` (N, D).

    ``gallery`` is a tensor or the rows of an index file (:class:`~vireid.search.feats_file.FeatsFile`).
    Returns float32 ``scores`` and ``indices`` (Q, k), best first, ranked by float64 scores:
    the same as sorting the float64 products (ties between equal scores: lower index first).
    Memory is bounded by one tile of scores: up to 4096 queries x ``block`` gallery rows
    (default: about 16M scores).
    ``bf16`` (default: on CPUs with native bf16 dot products, when ``gallery_bf16`` -- a
    :func:`prepare_bf16` copy -- is given or there are at least 256 queries) scans in bfloat16,
    else in float32; either way the result is exact (see :mod:`vireid.search.exact`).
    ``gallery_bounds`` may pass ``(max row norm, _)`` of the gallery to the float32 scan;
    ``candidates`` is ignored (the candidate set is sized by the error bound).  ``stats``
    receives the time split and candidate counts.
    """
    if queries.dim() != 2 or len(gallery.shape) != 2 or queries.shape[1] != gallery.shape[1]:
        raise ShapeError(
            f"expected queries (Q, D) and gallery (N, D) with the same D, got "
            f"{tuple(queries.shape)} and {tuple(gallery.shape)}"
        )
    if candidates is not None:
        warnings.warn(
            "exact_topk(candidates=...) is ignored: candidates are chosen by the error bound",
            DeprecationWarning,
            stacklevel=2,
        )
    queries = queries.float().contiguous()
    if isinstance(gallery, Tensor):
        gallery = gallery.float().contiguous()
    k = min(int(k), gallery.shape[0])
    if k <= 0 or queries.shape[0] == 0:
        return torch.zeros(queries.shape[0], max(k, 0)), torch.zeros(queries.shape[0], max(k, 0), dtype=torch.long)
    if not bool(torch.isfinite(queries).all()):
        raise ShapeError("query descriptors contain NaN or inf")
    if bf16 is None:
        bf16 = cpu_has_native_bf16() and (gallery_bf16 is not None or queries.shape[0] >= 256)
    prepared = None
    if bf16:
        prepared = gallery_bf16 if isinstance(gallery_bf16, Bf16Gallery) else prepare_bf16(gallery)
    norm = gallery_bounds[0] if gallery_bounds is not None else None
    precision = torch.get_float32_matmul_precision()
    try:  # the float32 bound assumes float32 products (no implicit bf16/tf32)
        torch.set_float32_matmul_precision("highest")
        return scan_topk(queries, gallery, k, prepared=prepared, gallery_norm=norm, block=block, stats=stats)
    finally:
        torch.set_float32_matmul_precision(precision)
