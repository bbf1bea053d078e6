"""The scan's result is the float64 ranking for any batch size, gallery and storage; one query
takes few blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from vireid.search import GalleryIndex, exact_topk
from vireid.search.scan import block_rows


def _float64_ranking(qry: torch.Tensor, gal: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest inner products, each the correctly rounded float64 of the exact
    value (products of float32 values are exact in float64; ``math.fsum`` sums them exactly),
    ties: lower index first.  (A float64 matrix product is no reference for exact ties: it may
    round two equal rows differently depending on their place in its tiles.)"""
    prods = qry.double().numpy()[:, None, :] * gal.double().numpy()[None, :, :]
    scores = np.array([[math.fsum(p) for p in row] for row in prods])
    order = np.lexsort((np.broadcast_to(np.arange(gal.shape[0]), scores.shape), -scores), axis=1)
    return torch.from_numpy(order[:, :k])


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 700),
    nq=st.sampled_from([1, 2, 16, 33]),
    k=st.integers(1, 40),
    copies=st.integers(1, 6),
    spread=st.sampled_from([0.0, 1e-7, 1e-4, 1e-2, 1.0]),
)
def test_every_batch_size_equals_the_float64_ranking(seed, n, nq, k, copies, spread):
    """Galleries of repeated and near-repeated rows (exact ties, ties below float32 and bf16
    resolution), queries near them: every scan, one query or many, ranks as float64 does."""
    g = torch.Generator().manual_seed(seed)
    base = F.normalize(torch.randn(max(1, n // copies), 24, generator=g), dim=1)
    gal = base[torch.arange(n) % len(base)] + spread * torch.randn(n, 24, generator=g)
    qry = F.normalize(gal[torch.randint(0, n, (nq,), generator=g)] + 0.05 * torch.randn(nq, 24, generator=g), dim=1)
    ref = _float64_ranking(qry, gal, min(k, n))
    for bf16 in (True, False):
        for block in (None, 64):
            assert torch.equal(exact_topk(qry, gal, k, bf16=bf16, block=block)[1], ref)
    for scan in ("bf16", "fp32"):
        index = GalleryIndex(gal, [{"path": "", "pid": 0, "camid": 0}] * n, modality="visible", scan=scan)
        assert np.array_equal(index.search(qry[:1], k).indices, ref[:1].numpy())


def test_one_query_on_disk_equals_in_memory(tmp_path):
    g = torch.Generator().manual_seed(1)
    gal = F.normalize(torch.randn(5000, 48, generator=g), dim=1)
    gal[100:140] = gal[3]  # exact ties
    entries = [{"path": str(i), "pid": 0, "camid": 0} for i in range(5000)]
    GalleryIndex(gal, entries, modality="visible").save(tmp_path / "ix")
    qry = F.normalize(gal[[3, 7, 99]] + 0.01 * torch.randn(3, 48, generator=g), dim=1)
    ref = _float64_ranking(qry, gal, 50).numpy()
    for mmap in (False, True):
        for scan in ("bf16", "fp32"):
            index = GalleryIndex.load(tmp_path / "ix", scan=scan, mmap=mmap)
            assert np.array_equal(index.search(qry, 50).indices, ref)
            assert np.array_equal(index.search(qry[1], 50).indices, ref[1:2])


def test_the_rescoring_of_an_index_on_disk_reads_bounded_slices(tmp_path, monkeypatch):
    """Many candidates (k = 200 of 3000 rows, 40 queries): the rescoring of an index left on disk
    reads its candidate rows a bounded slice at a time (READ_BYTES), never all of them at once,
    and ranks as float64 does."""
    from vireid.search import feats_file, scan

    g = torch.Generator().manual_seed(3)
    gal = F.normalize(torch.randn(3000, 32, generator=g), dim=1)
    gal[1000:1500] = gal[:500]  # exact ties across slices
    GalleryIndex(gal, [{"path": "", "pid": 0, "camid": 0}] * 3000, modality="visible").save(tmp_path / "ix")
    qry = F.normalize(gal[:40] + 0.3 * torch.randn(40, 32, generator=g), dim=1)
    monkeypatch.setattr(scan, "READ_BYTES", 100 * 32 * 4)  # 100 rows per slice
    sizes: list[int] = []
    take = feats_file.FeatsFile.take
    monkeypatch.setattr(feats_file.FeatsFile, "take", lambda self, idx: sizes.append(len(idx)) or take(self, idx))
    for scan_kind in ("bf16", "fp32"):
        index = GalleryIndex.load(tmp_path / "ix", scan=scan_kind, mmap=True)
        assert np.array_equal(index.search(qry, 200).indices, _float64_ranking(qry, gal, 200).numpy())
    assert sizes and max(sizes) <= 100 and sum(sizes) > 1000


def test_a_huge_row_falls_back_to_float64_and_stays_exact():
    g = torch.Generator().manual_seed(2)
    gal = torch.randn(300, 32, generator=g)
    gal[17] = 3e38 * F.normalize(torch.randn(32, generator=g), dim=0)
    qry = torch.randn(4, 32, generator=g)
    for scan in ("bf16", "fp32"):
        index = GalleryIndex(gal, [{"path": "", "pid": 0, "camid": 0}] * 300, modality="visible", scan=scan)
        assert np.array_equal(index.search(qry, 5).indices, _float64_ranking(qry, gal, 5).numpy())


def test_one_query_scans_a_large_gallery_in_few_blocks():
    """The per-block Python work is paid a handful of times per query (RESULTS.md has the split)."""
    assert block_rows(1, 2048, True) == 1 << 24 and block_rows(16, 256, True) == 130048
    assert block_rows(1000, 2048, True) == 16768 // 64 * 64  # a tile of at most 16M scores
    assert block_rows(1, 2048, False, on_disk=True) == 8192  # 64 MiB read from disk per block
    gal = F.normalize(torch.randn(200_000, 8), dim=1)
    stats: dict = {}
    exact_topk(gal[:1], gal, 10, bf16=True, stats=stats)
    assert stats["blocks"] <= 6 and stats["fallback_queries"] == 0


@pytest.mark.parametrize("scan", ["bf16", "fp32"])
def test_the_index_keeps_no_float32_copy_and_builds_the_bf16_copy_up_front(scan):
    gal = F.normalize(torch.randn(1000, 32), dim=1)
    index = GalleryIndex(gal, [{"path": "", "pid": 0, "camid": 0}] * 1000, modality="visible", scan=scan)
    assert index.feats is gal or index.feats.data_ptr() == gal.data_ptr()
    assert (index._prepared() is not None) == (scan == "bf16")
