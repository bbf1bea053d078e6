"""The plain torch search, the baseline named "torch" in :mod:`benchmarks.bench_search`: float32
matrix products of gallery blocks and a running top-k, as one would write it without vireid (and
what vireid's first exact search built on)."""

from __future__ import annotations

import torch
from torch import Tensor


def blocked_topk(queries: Tensor, gallery: Tensor, k: int, block: int = 16384) -> tuple[Tensor, Tensor]:
    """Running top-``k`` of ``queries @ gallery.T`` over gallery blocks (scores in float32)."""
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
