"""The exact search that vireid shipped before the bound-sized candidate sets, for side-by-side
timing: a bf16 scan keeping a fixed 32 candidates per query, float32 rescoring, a gap
certificate, and a full float32 rescan of every query the certificate does not accept.
Copied from ``vireid/search/index.py`` at commit 273588a (``exact_topk``), plus the count of
accepted queries."""

from __future__ import annotations

import torch
from torch import Tensor


def blocked_topk(queries: Tensor, gallery: Tensor, k: int, block: int = 16384) -> tuple[Tensor, Tensor]:
    """Running top-``k`` of ``queries @ gallery.T`` over gallery blocks (scores in float32):
    the plain torch search (float32 matmul + topk), also the baseline named "torch"."""
    k = min(k, gallery.shape[0])
    best_s = torch.full((queries.shape[0], 0), float("-inf"))
    best_i = torch.zeros((queries.shape[0], 0), dtype=torch.long)
    for start in range(0, gallery.shape[0], block):
        s = (queries @ gallery[start : start + block].T).float()
        s_top, i_top = s.topk(min(k, s.shape[1]), dim=1)
        cat_s = torch.cat([best_s, s_top], dim=1)
        cat_i = torch.cat([best_i, i_top + start], dim=1)
        best_s, pos = cat_s.topk(min(k, cat_s.shape[1]), dim=1)
        best_i = cat_i.gather(1, pos)
    return best_s, best_i


def _rescore(queries: Tensor, gallery: Tensor, idx: Tensor, chunk: int = 128) -> Tensor:
    out = torch.empty(idx.shape, dtype=torch.float32)
    for a in range(0, queries.shape[0], chunk):
        cand = gallery[idx[a : a + chunk]]
        out[a : a + chunk] = torch.einsum("qcd,qd->qc", cand, queries[a : a + chunk])
    return out


def bf16_bounds(gallery: Tensor, gallery_bf16: Tensor, chunk: int = 16384) -> tuple[float, float]:
    g_norm = g_err = 0.0
    for a in range(0, gallery.shape[0], chunk):
        g = gallery[a : a + chunk]
        g_norm = max(g_norm, float(g.norm(dim=1).max()))
        g_err = max(g_err, float((gallery_bf16[a : a + chunk].float() - g).norm(dim=1).max()))
    return g_norm, g_err


def certified_topk(
    queries: Tensor,
    gallery: Tensor,
    k: int,
    gallery_bf16: Tensor,
    bounds: tuple[float, float],
    block: int = 16384,
    candidates: int = 32,
    stats: dict | None = None,
) -> tuple[Tensor, Tensor]:
    """The former ``exact_topk`` with ``bf16=True``; ``stats['accepted']``: queries certified."""
    k = min(k, gallery.shape[0])
    qb = queries.to(torch.bfloat16)
    approx, cand = blocked_topk(qb, gallery_bf16, candidates, block)
    exact = _rescore(queries, gallery, cand)
    s, pos = exact.topk(k, dim=1)
    idx = cand.gather(1, pos)
    q_norm = queries.norm(dim=1)
    q_err = (qb.float() - queries).norm(dim=1)
    g_norm, g_err = bounds
    gamma = queries.shape[1] * 2.0**-24 * 1.01
    eps = 2.0 * (q_err * g_norm + (q_norm + q_err) * g_err + gamma * (q_norm + q_err) * (g_norm + g_err))
    cutoff = approx[:, -1]
    unsure = (s[:, -1] <= cutoff + eps).nonzero().flatten()
    if len(unsure):
        s_u, i_u = blocked_topk(queries[unsure], gallery, k, block)
        s[unsure], idx[unsure] = s_u, i_u
    if stats is not None:
        stats["accepted"] = 1.0 - len(unsure) / max(1, queries.shape[0])
    return s, idx
