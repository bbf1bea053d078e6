"""The scan behind :func:`vireid.search.exact.exact_topk` (error model: see that module).

Tiles of (up to :data:`QCHUNK` queries) x (a gallery block) are multiplied into one reused
buffer (fresh multi-megabyte outputs cost page faults), each tile is filtered by per-chunk
maxima, and the surviving (query, row) pairs carry lower/upper bounds of their exact score.
The gallery is a float32 tensor or a :class:`~vireid.search.feats_file.FeatsFile` (rows read
from disk: the float32 scan reads its blocks, the rescoring the candidate rows).
"""

from __future__ import annotations

import contextlib
import time

import torch
from torch import Tensor

from vireid.search.bounds import U_BF16, Bf16Gallery, bf16_error, fp32_error, gamma, max_norm
from vireid.search.products import bf16_product, fp32_product

CHUNK = 64  # columns per pre-filter chunk
TILE = 1 << 24  # score elements per (queries x gallery block) product
QCHUNK = 4096  # queries per tile
FIRST = 256  # rows of the first, calibrating block
BLOCK_BYTES = 64 << 20  # gallery bytes per block at least 65536 rows (fewer blocks: less Python work)
GROW = 3  # each block after the first is GROW times the rows scanned before it (until the full size)
READ_BYTES = 64 << 20  # float32 bytes per block read from disk (the float32 scan of a FeatsFile)
CAP = 4096  # candidates per query above which it is searched in float64 instead
SMALL = 1 << 22  # multiply-adds (or values read) below which a step runs on one thread
_INF = float("inf")


def _rows(gallery, a: int, b: int, out: Tensor | None = None) -> Tensor:
    """Rows ``a:b`` of a tensor (a view) or of a FeatsFile (read, into ``out`` if given)."""
    return (
        gallery[a:b] if isinstance(gallery, Tensor) else gallery.rows(a, b, out=None if out is None else out[: b - a])
    )


def _round_down(x: Tensor, dtype: torch.dtype) -> Tensor:
    """Largest value of ``dtype`` that is <= ``x`` (float64), elementwise."""
    y = x.to(dtype)
    return torch.where(y.double() > x, torch.nextafter(y, torch.full_like(y, -_INF)), y)


def _chunk_max(scores: Tensor) -> Tensor:
    """Maxima of the full :data:`CHUNK`-column chunks of each row of ``scores`` (contiguous)."""
    q, b = scores.shape
    nw = b // CHUNK
    if b == nw * CHUNK:
        return scores.view(-1, CHUNK).amax(1).view(q, nw)
    return scores[:, : nw * CHUNK].reshape(-1, CHUNK).amax(1).view(q, nw)


def _select(scores: Tensor, thr: Tensor, cmax: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(rows, cols, values) of ``scores[q, j] >= thr[q]``, rows ascending, given the chunk
    maxima ``cmax`` of :func:`_chunk_max`: single scores are read only in chunks that pass."""
    q, b = scores.shape
    nw = b // CHUNK
    parts = []
    if nw:
        body = scores if b == nw * CHUNK else scores[:, : nw * CHUNK].contiguous()
        hq, hc = (cmax >= thr[:, None]).nonzero(as_tuple=True)
        if len(hq):
            vals = body.view(q, nw, CHUNK)[hq, hc]
            mi, wi = (vals >= thr[hq, None]).nonzero(as_tuple=True)
            parts.append((hq[mi], hc[mi] * CHUNK + wi, vals[mi, wi]))
    if b > nw * CHUNK:
        tail = scores[:, nw * CHUNK :]
        r, c = (tail >= thr[:, None]).nonzero(as_tuple=True)
        parts.append((r, c + nw * CHUNK, tail[r, c]))
    if not parts:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), scores.new_zeros(0)
    rows, cols, vals = (torch.cat(p) for p in zip(*parts, strict=True))
    if len(parts) > 1:
        order = torch.argsort(rows, stable=True)
        rows, cols, vals = rows[order], cols[order], vals[order]
    return rows, cols, vals


def _merge_kth(best: Tensor, rows: Tensor, lo: Tensor) -> Tensor:
    """Fold lower bounds ``lo`` of rows ``rows`` (ascending) into the per-query ``best`` (Q, k)
    lower bounds, in place; returns the distinct rows and their number of new entries."""
    urows, counts = torch.unique_consecutive(rows, return_counts=True)
    pos = torch.arange(len(rows)) - (counts.cumsum(0) - counts).repeat_interleave(counts)
    dense = torch.full((len(urows), int(counts.max())), -_INF, dtype=torch.float64)
    dense[torch.arange(len(urows)).repeat_interleave(counts), pos] = lo
    best[urows] = torch.cat([best[urows], dense], 1).topk(best.shape[1], dim=1).values
    return urows, counts


def _live(hits: list[tuple[Tensor, Tensor, Tensor]], low: Tensor, over: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The stored (rows, cols, upper bounds) that can still reach their query's k-th score."""
    rows, cols, hi = (torch.cat(x) for x in zip(*hits, strict=True))
    keep = (hi >= low[rows]) & ~over[rows]
    return rows[keep], cols[keep], hi[keep]


def _topk64(queries: Tensor, gallery, k: int, block: int) -> tuple[Tensor, Tensor]:
    """Plain float64 blocked top-k (for queries with more near-ties than :data:`CAP`)."""
    q = queries.double()
    best_s = torch.full((q.shape[0], 0), -_INF, dtype=torch.float64)
    best_i = torch.zeros((q.shape[0], 0), dtype=torch.long)
    for a in range(0, gallery.shape[0], block):
        s = q @ _rows(gallery, a, min(a + block, gallery.shape[0])).double().T
        s, i = s.topk(min(k, s.shape[1]), dim=1)
        best_s, pos = torch.cat([best_s, s], 1).topk(min(k, best_s.shape[1] + s.shape[1]), dim=1)
        best_i = torch.cat([best_i, i + a], 1).gather(1, pos)
    return best_s, best_i


def _rescore(q64: Tensor, gallery, rows: Tensor, cols: Tensor) -> Tensor:
    """float64 scores of the (row, col) pairs, in small chunks through reused buffers.  A gallery
    on disk: its candidate rows are read :data:`READ_BYTES` at a time (in row order), so the
    rescoring holds at most that much of it however many candidates there are."""
    if not isinstance(gallery, Tensor):
        return _rescore_on_disk(q64, gallery, rows, cols)
    d = gallery.shape[1]
    step = max(16, (1 << 18) // d)
    out = torch.empty(len(rows), dtype=torch.float64)
    g32 = torch.empty(step, d)
    g64, q = torch.empty(step, d, dtype=torch.float64), torch.empty(step, d, dtype=torch.float64)
    for a in range(0, len(rows), step):
        n = min(step, len(rows) - a)
        torch.index_select(gallery, 0, cols[a : a + n], out=g32[:n])
        g64[:n].copy_(g32[:n])
        torch.index_select(q64, 0, rows[a : a + n], out=q[:n])
        torch.sum(g64[:n].mul_(q[:n]), 1, out=out[a : a + n])
    return out


def _rescore_on_disk(q64: Tensor, gallery, rows: Tensor, cols: Tensor) -> Tensor:
    """:func:`_rescore` of a FeatsFile: its distinct candidate rows in slices of at most
    :data:`READ_BYTES`, each slice read once and rescored for every pair that names it."""
    uniq, inv = torch.unique(cols, return_inverse=True)
    order = torch.argsort(inv, stable=True)
    sorted_inv = inv[order]
    step = max(1, READ_BYTES // (4 * gallery.shape[1]))
    out = torch.empty(len(rows), dtype=torch.float64)
    for u in range(0, len(uniq), step):
        a, b = torch.searchsorted(sorted_inv, torch.tensor([u, u + step])).tolist()
        pick = order[a:b]
        out[pick] = _rescore(q64, gallery.take(uniq[u : u + step]), rows[pick], inv[pick] - u)
    return out


def scan_topk(
    queries: Tensor,
    gallery,
    k: int,
    *,
    prepared: Bf16Gallery | None = None,
    gallery_norm: float | None = None,
    block: int | None = None,
    stats: dict | None = None,
) -> tuple[Tensor, Tensor]:
    """Exact float64-ranked top-``k`` of ``queries @ gallery.T`` (float32): a bf16 scan of
    ``prepared`` if given, else a float32 scan.  ``stats`` receives the time split (``scan``,
    ``select``, ``rescore``, ``fallback`` seconds), the candidate counts and the number of blocks.

    Only the products and the chunk maxima run on all of torch's threads; the many small
    steps between them run on one (no thread barriers, which a busy machine makes costly)."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        return _scan(queries, gallery, k, prepared, gallery_norm, block, stats, threads)
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _threads(n: int):
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(1)


def block_rows(nq: int, d: int, bf16: bool, on_disk: bool = False) -> int:
    """Gallery rows per block for ``nq`` queries: a tile of at most :data:`TILE` scores and a block
    of 65536 rows or :data:`BLOCK_BYTES` for a matrix product (at most :data:`READ_BYTES` read from
    disk; any size for one query), a multiple of CHUNK."""
    row_bytes = (d + 2) * 2 if bf16 else d * 4
    if on_disk and not bf16:
        cap = READ_BYTES // row_bytes
    elif nq == 1:  # a matrix-vector product streams any block as it is: fewest blocks, fewest barriers
        cap = TILE
    else:  # a matrix product may reorder its block
        cap = max(65536, BLOCK_BYTES // row_bytes)
    return max(CHUNK, min(TILE // min(nq, QCHUNK), cap) // CHUNK * CHUNK)


def _scan(
    queries: Tensor,
    gallery,
    k: int,
    prepared: Bf16Gallery | None,
    gallery_norm: float | None,
    block: int | None,
    stats: dict | None,
    threads: int,
) -> tuple[Tensor, Tensor]:
    nq, d = queries.shape
    n = gallery.shape[0]
    clock = dict.fromkeys(("scan", "select", "rescore", "fallback"), 0.0)
    t0 = time.perf_counter()
    q64 = queries.double()
    qn = q64.norm(dim=1)
    bf16, qs = prepared is not None, None
    if bf16:
        qs = torch.zeros(nq, d + 2, dtype=torch.bfloat16)  # bf16(q), then the offset column
        qs[:, :d] = queries
        eps0, gam, g_max = bf16_error(queries, qs[:, :d], prepared), gamma(d + 2), prepared.norm
        u_out, dtype = U_BF16 / (1 - U_BF16), torch.bfloat16
    else:
        g_max = max_norm(gallery) if gallery_norm is None else gallery_norm
        eps0, gam = fp32_error(queries, g_max), gamma(d)
        u_out, dtype = 0.0, torch.float32
    on_disk = not isinstance(gallery, Tensor)
    if not bool(torch.isfinite(eps0).all()) or float(qn.max()) * g_max > 1e30:  # near float32 overflow
        with _threads(threads):
            scores, idx = _topk64(queries, gallery, k, block or 4096)
        return scores.float(), idx
    m = min(nq, QCHUNK)
    bmax = block or block_rows(nq, d, bf16, on_disk)
    first = min(bmax, -(-max(FIRST, 4 * k) // CHUNK) * CHUNK)
    # one query: the rest of the gallery in one block after the first (a looser threshold costs a
    # few more candidates; each further block costs a thread wake-up, slow on a busy machine)
    grow = GROW if nq > 1 else n
    buf = torch.empty(m * min(bmax, n), dtype=dtype)
    read = torch.empty(min(bmax, n), d) if on_disk and not bf16 else None  # float32 rows from disk
    best = torch.full((nq, k), -_INF, dtype=torch.float64)  # k largest lower bounds seen
    count = torch.zeros(nq, dtype=torch.long)
    over = torch.zeros(nq, dtype=torch.bool)
    hits: list[tuple[Tensor, Tensor, Tensor]] = []
    zero = torch.zeros(nq, dtype=torch.float64)
    cap = max(CAP, 4 * k)
    start, blocks, changed, calibrated = 0, 0, True, False
    c, eps, tq = zero, eps0, None
    clock["select"] += time.perf_counter() - t0
    while start < n:
        t0 = time.perf_counter()
        b = min(n - start, first if start == 0 else min(bmax, max(first, grow * start)))
        low = best[:, -1]
        calibrated = calibrated or (start >= k and bool(torch.isfinite(low[~over]).all()))  # stays so
        calibrate = not calibrated
        if calibrate:
            c, eps = zero, eps0
            if bf16:
                qs[:, d] = 0
        elif changed:  # new thresholds (and bf16 offsets) only when a k-th bound moved
            if bf16:
                target = low - eps0 - gam * (2 * low.abs() + 2 * eps0 + 1) - 1e-6 * (low.abs() + 1)
                cb = _round_down(torch.where(over, zero, target), torch.bfloat16)
                qs[:, d] = -cb
                c = cb.double()
                eps = eps0 + gam * c.abs()
            thr = low - c - eps
            if bf16:
                if not bool((thr[~over] > 0).all()):  # pragma: no cover - excluded by the choice of c
                    raise RuntimeError("bf16 scan: non-positive threshold; please report this")
                tq = _round_down(thr / (1 + u_out), torch.bfloat16).view(torch.int16)
                tq = torch.where(over, torch.full_like(tq, 32767), tq)
            else:
                tq = _round_down(torch.where(over, torch.full_like(thr, _INF), thr), torch.float32)
        changed = calibrate
        parts = []
        t1 = time.perf_counter()
        source = prepared.data[start : start + b] if bf16 else _rows(gallery, start, start + b, read)
        clock["scan"] += time.perf_counter() - t1
        for a in range(0, nq, m):
            z = min(nq, a + m)
            out = buf[: (z - a) * b].view(z - a, b)
            t1 = time.perf_counter()
            with _threads(threads if (z - a) * b * d >= SMALL else 1):  # small: no thread wake-ups
                if bf16:
                    bf16_product(qs[a:z], source, out)
                else:
                    fp32_product(queries[a:z], source, out)
            clock["scan"] += time.perf_counter() - t1
            if calibrate:  # first block(s): float64 bounds of every score
                r = out.double()
                rad = u_out * r.abs() + eps[a:z, None]
                best[a:z] = torch.cat([best[a:z], (r - rad).topk(min(k, b), dim=1).values], 1).topk(k, dim=1).values
                rr, cc = (r + rad >= best[a:z, -1:]).nonzero(as_tuple=True)
                parts.append((rr + a, cc, r[rr, cc]))
            else:
                view = out.view(torch.int16) if bf16 else out
                with _threads(threads if out.numel() >= SMALL else 1):
                    cmax = _chunk_max(view)
                rr, cc, v = _select(view, tq[a:z], cmax)
                parts.append((rr + a, cc, (v.view(torch.bfloat16) if bf16 else v).double()))
        rows, cols, vals = (torch.cat(x) for x in zip(*parts, strict=True)) if len(parts) > 1 else parts[0]
        if len(rows):
            err = u_out * vals.abs() + eps[rows]
            lo, hi = c[rows] + vals - err, c[rows] + vals + err
            if calibrate:
                count += torch.bincount(rows, minlength=nq)
            else:
                urows, cnt = _merge_kth(best, rows, lo)
                count[urows] += cnt
                changed = True
            hits.append((rows, cols + start, hi))
            if bool((count > cap).any()):  # drop stale hits, then give up on still-tied queries
                hits = [_live(hits, best[:, -1], over)]
                count = torch.bincount(hits[0][0], minlength=nq)
                over |= count > cap
        clock["select"] += time.perf_counter() - t0
        start += b
        blocks += 1
    clock["select"] -= clock["scan"]
    t0 = time.perf_counter()
    rows, cols, _ = _live(hits, best[:, -1], over)
    ex = _rescore(q64, gallery, rows, cols)
    order = torch.argsort(ex, descending=True, stable=True)
    order = order[torch.argsort(rows[order], stable=True)]
    rows, cols, ex = rows[order], cols[order], ex[order]
    per_q = torch.bincount(rows, minlength=nq)
    take = ((per_q.cumsum(0) - per_q)[:, None] + torch.arange(k)).clamp_max(max(len(rows) - 1, 0))
    ok = ~over
    scores = torch.zeros(nq, k, dtype=torch.float64)
    idx = torch.zeros(nq, k, dtype=torch.long)
    if len(rows):
        scores[ok], idx[ok] = ex[take[ok]], cols[take[ok]]
    t1 = time.perf_counter()
    clock["rescore"] += t1 - t0
    if over.any():
        w = over.nonzero().flatten()
        with _threads(threads):
            scores[w], idx[w] = _topk64(queries[w], gallery, k, bmax)
        clock["fallback"] += time.perf_counter() - t1
    if stats is not None:
        stats.update(clock)
        stats.update(
            candidates_mean=float(per_q[ok].double().mean()) if ok.any() else 0.0,
            candidates_max=int(per_q.max()) if nq else 0,
            fallback_queries=int(over.sum()),
            queries=nq,
            blocks=blocks,
            precision="bf16" if bf16 else "fp32",
        )
    return scores.float(), idx
