import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vireid.errors import VireidError
from vireid.search import GalleryIndex, exact_topk


def _data(n=500, q=20, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    gal = F.normalize(torch.randn(n, d, generator=g), dim=1)
    qry = F.normalize(torch.randn(q, d, generator=g), dim=1)
    entries = [{"path": f"img{i}.jpg", "pid": i % 50, "camid": 1 + i % 4} for i in range(n)]
    return gal, qry, entries


def test_exact_topk_matches_full_sort_for_any_block_size():
    gal, qry, _ = _data()
    full = qry @ gal.T
    ref_s, ref_i = full.sort(dim=1, descending=True)
    for block in (1, 7, 64, 10_000):
        s, i = exact_topk(qry, gal, k=10, block=block)
        torch.testing.assert_close(s, ref_s[:, :10])
        assert torch.equal(i, ref_i[:, :10])


def test_k_larger_than_gallery_is_clipped():
    gal, qry, _ = _data(n=5)
    s, i = exact_topk(qry, gal, k=10)
    assert s.shape == (20, 5) and sorted(i[0].tolist()) == list(range(5))


def test_round_trip_and_hits(tmp_path):
    gal, qry, entries = _data()
    model_id = {"checkpoint_sha256": "abc", "config_sha256": "def", "descriptor": 32}
    idx = GalleryIndex(gal, entries, modality="visible", model_id=model_id)
    idx.save(tmp_path / "ix")
    back = GalleryIndex.load(tmp_path / "ix")
    assert torch.equal(back.feats, idx.feats) and back.entries == entries
    r1 = idx.search(qry, 5, query_modality="infrared", query_model_id=model_id)
    r2 = back.search(qry, 5, query_modality="infrared", query_model_id=model_id)
    assert np.array_equal(r1.indices, r2.indices)
    hits = r1.hits(0)
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert hits[0]["path"] == entries[int(r1.indices[0, 0])]["path"]
    assert hits[0]["score"] >= hits[1]["score"]


def test_refuses_other_model_and_same_modality():
    gal, qry, entries = _data()
    idx = GalleryIndex(gal, entries, modality="visible", model_id={"checkpoint_sha256": "abc"})
    with pytest.raises(VireidError, match="another model"):
        idx.search(qry, 5, query_model_id={"checkpoint_sha256": "zzz"})
    with pytest.raises(VireidError, match="cross-modal"):
        idx.search(qry, 5, query_modality="visible")
    assert idx.search(qry, 5, query_modality="visible", allow_same_modality=True).indices.shape == (20, 5)


def test_bad_inputs():
    gal, qry, entries = _data()
    with pytest.raises(VireidError):
        GalleryIndex(gal, entries[:-1], modality="visible")
    with pytest.raises(VireidError, match="empty"):
        GalleryIndex(gal[:0], [], modality="visible")
    with pytest.raises(VireidError, match="backend"):
        GalleryIndex(gal, entries, modality="visible", backend="annoy")
    idx = GalleryIndex(gal, entries, modality="visible")
    with pytest.raises(VireidError):
        idx.search(qry[:, :8], 5)


def test_load_missing_dir(tmp_path):
    with pytest.raises(VireidError, match="index.json"):
        GalleryIndex.load(tmp_path)


def test_faiss_flat_equals_exact_and_ivf_recall(tmp_path):
    gal, qry, entries = _data(n=2000, q=50)
    exact = GalleryIndex(gal, entries, modality="visible").search(qry, 10)
    flat = GalleryIndex(gal, entries, modality="visible", backend="faiss-flat")
    r = flat.search(qry, 10)
    assert np.array_equal(r.indices, exact.indices)
    ivf = GalleryIndex(gal, entries, modality="visible", backend="faiss-ivf", nlist=16)
    ivf.save(tmp_path / "ivf")
    back = GalleryIndex.load(tmp_path / "ivf")
    r_ivf = back.search(qry, 10, nprobe=16)  # nprobe = nlist: exhaustive, so exact
    assert np.array_equal(np.sort(r_ivf.indices, 1), np.sort(exact.indices, 1))


def _ref(qry, gal, k):
    """float64 top-k (values, indices)."""
    return (qry.double() @ gal.double().T).topk(k, dim=1)


@pytest.mark.parametrize("bf16", [True, False])
def test_scan_is_exact_with_a_near_duplicate(bf16):
    g = torch.Generator().manual_seed(3)
    gal = F.normalize(torch.randn(3000, 64, generator=g), dim=1)
    gal[1] = F.normalize(gal[0] + 1e-4 * torch.randn(64, generator=g), dim=0)  # a near-duplicate
    qry = torch.cat([gal[:5] + 0.01 * torch.randn(5, 64, generator=g), torch.randn(20, 64, generator=g)])
    qry = F.normalize(qry, dim=1)
    ref_s, ref_i = _ref(qry, gal, 10)
    s, i = exact_topk(qry, gal, k=10, block=512, bf16=bf16)
    torch.testing.assert_close(s, ref_s.float())
    assert torch.equal(i, ref_i)


def _near_ties(seed, n=4000, d=64, ties=400, nq=8, spread=3e-3):
    """``ties`` gallery rows scattered by ``spread`` around the queries' common direction."""
    g = torch.Generator().manual_seed(seed)
    base = F.normalize(torch.randn(d, generator=g), dim=0)
    gal = F.normalize(torch.randn(n, d, generator=g), dim=1)
    gal[:ties] = F.normalize(base + spread * torch.randn(ties, d, generator=g), dim=1)
    return F.normalize(base + 0.02 * torch.randn(nq, d, generator=g), dim=1), gal


@pytest.mark.parametrize("bf16", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_many_near_ties_of_bf16_descriptors(bf16, seed):
    """Hundreds of rows within the bf16 error of the k-th score, descriptors stored in bf16
    (so bf16 rounding of the inputs is exact and only the bf16 product's rounding remains):
    a fixed number of bf16 candidates would miss some of the true top-k."""
    qry, gal = (x.bfloat16().float() for x in _near_ties(seed))
    ref_s, ref_i = _ref(qry, gal, 10)
    s, i = exact_topk(qry, gal, k=10, bf16=bf16)
    assert torch.equal(i, ref_i)
    torch.testing.assert_close(s, ref_s.float())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_near_tie_gallery_defeats_a_fixed_candidate_count(seed):
    """The gallery above is a real test: 32 bf16 candidates per query (the former design),
    even rescored in float64, miss some of the true top-10, which exact_topk finds."""
    qry, gal = (x.bfloat16().float() for x in _near_ties(seed))
    approx = (qry.bfloat16() @ gal.bfloat16().T).float()
    cand = approx.topk(32, dim=1).indices
    fixed = cand.gather(1, (gal.double()[cand] @ qry.double()[:, :, None])[..., 0].topk(10, dim=1).indices)
    ref_i = _ref(qry, gal, 10)[1]
    assert not torch.equal(fixed, ref_i)
    assert torch.equal(exact_topk(qry, gal, k=10, bf16=True)[1], ref_i)


@pytest.mark.parametrize("bf16", [True, False])
def test_near_ties_below_float32_resolution_follow_float64(bf16):
    """Rows 1e-7 apart: float32 products cannot order them, the float64 rescoring does."""
    g = torch.Generator().manual_seed(7)
    base = F.normalize(torch.randn(64, generator=g), dim=0)
    gal = F.normalize(torch.randn(3000, 64, generator=g), dim=1)
    gal[:200] = base + 1e-7 * torch.randn(200, 64, generator=g)
    qry = F.normalize(base + 1e-3 * torch.randn(6, 64, generator=g), dim=1)
    ref_s, ref_i = _ref(qry, gal, 10)
    s, i = exact_topk(qry, gal, k=10, bf16=bf16)
    assert torch.equal(i, ref_i)


@pytest.mark.parametrize("bf16", [True, False])
def test_isotropic_negative_and_unnormalised_scores(bf16):
    """Pure noise (many rows within the bound of the k-th score), negative scores and rows of
    very different norms: still the float64 top-k, with no fallback."""
    g = torch.Generator().manual_seed(4)
    gal = F.normalize(torch.randn(2000, 512, generator=g), dim=1) * torch.rand(2000, 1, generator=g) * 5
    qry = -3 * F.normalize(torch.randn(30, 512, generator=g), dim=1)
    ref_s, ref_i = _ref(qry, gal, 10)
    for block in (None, 100, 7):
        stats = {}
        s, i = exact_topk(qry, gal, k=10, bf16=bf16, block=block, stats=stats)
        assert torch.equal(i, ref_i) and stats["fallback_queries"] == 0
        torch.testing.assert_close(s, ref_s.float())


def test_more_ties_than_the_cap_fall_back_to_float64(monkeypatch):
    """A query tied with more rows than CAP is searched in float64; ties are equal scores."""
    import vireid.search.scan as ex

    monkeypatch.setattr(ex, "CAP", 50)
    g = torch.Generator().manual_seed(6)
    gal = F.normalize(torch.randn(1000, 32, generator=g), dim=1)
    gal[100:400] = gal[0]  # 301 identical rows
    qry = torch.stack([gal[0], F.normalize(torch.randn(32, generator=g), dim=0)])
    stats = {}
    s, i = exact_topk(qry, gal, k=10, bf16=True, stats=stats)
    assert stats["fallback_queries"] == 1
    ref_s, ref_i = _ref(qry, gal, 10)
    assert set(i[0].tolist()) <= {0, *range(100, 400)} and torch.equal(i[1], ref_i[1])
    torch.testing.assert_close(s, ref_s.float())


def test_exact_topk_stats_and_deprecated_candidates():
    gal, qry, _ = _data()
    with pytest.warns(DeprecationWarning, match="candidates"):
        exact_topk(qry, gal, 5, candidates=32)
    stats = {}
    exact_topk(qry, gal, 5, bf16=True, stats=stats)
    assert stats["precision"] == "bf16" and stats["queries"] == len(qry) and stats["fallback_queries"] == 0
    qry, gal = _near_ties(0)
    exact_topk(qry, gal, 10, bf16=True, stats=stats)
    assert stats["candidates_max"] > 32 and stats["fallback_queries"] == 0  # widened, not rescanned
    assert {"scan", "select", "rescore", "fallback", "candidates_mean"} <= set(stats)
    with pytest.raises(VireidError, match="NaN"):
        exact_topk(qry * float("nan"), gal, 5)


def test_scan_option_keeps_one_copy():
    gal, qry, entries = _data(n=3000)
    one = GalleryIndex(gal, entries, modality="visible", scan="fp32")
    two = GalleryIndex(gal, entries, modality="visible", scan="bf16")
    r1, r2 = one.search(qry, 10), two.search(qry, 10)
    assert np.array_equal(r1.indices, r2.indices)
    assert one.nbytes == gal.numel() * 4 and two.nbytes == gal.numel() * 4 + 3000 * 34 * 2
    with pytest.raises(VireidError, match="scan"):
        GalleryIndex(gal, entries, modality="visible", scan="int8")


def test_save_is_all_or_nothing(tmp_path, monkeypatch):
    gal, qry, entries = _data()
    idx = GalleryIndex(gal, entries, modality="visible")
    out = tmp_path / "ix"
    idx.save(out)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask
    other = GalleryIndex(gal[:10], entries[:10], modality="infrared")
    other.save(out)  # an existing index is replaced
    assert GalleryIndex.load(out).modality == "infrared"

    def boom(self, directory):
        (directory / "feats.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(GalleryIndex, "_write_files", boom)
    with pytest.raises(VireidError, match="cannot write a gallery index .*previous file is intact"):
        idx.save(out)  # a failed write keeps the old index, one line
    assert GalleryIndex.load(out).modality == "infrared"
    with pytest.raises(VireidError, match="nothing was written"):
        idx.save(tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ix"]  # no temporary folders left


def test_save_refuses_what_is_not_an_index(tmp_path):
    gal, qry, entries = _data()
    idx = GalleryIndex(gal, entries, modality="visible")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("precious")
    (mine / "index.json").write_text('{"format": "something else"}')
    with pytest.raises(VireidError, match="not a gallery index vireid wrote"):
        idx.save(mine)
    assert (mine / "keep.txt").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(VireidError, match="not a folder"):
        idx.save(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    idx.save(tmp_path / "empty")  # an empty folder is fine
    assert GalleryIndex.load(tmp_path / "empty").entries == entries


def test_load_mmap_keeps_only_the_bf16_copy_resident(tmp_path):
    gal, qry, entries = _data(n=3000)
    GalleryIndex(gal, entries, modality="visible").save(tmp_path / "ix")
    mapped = GalleryIndex.load(tmp_path / "ix", mmap=True, scan="bf16")
    full = GalleryIndex.load(tmp_path / "ix", scan="bf16")
    assert torch.equal(mapped.feats.read(), gal)  # left on disk: read by position, never mapped
    r1, r2 = mapped.search(qry, 10), full.search(qry, 10)
    assert np.array_equal(r1.indices, r2.indices) and np.array_equal(r1.scores, r2.scores)
    assert mapped.nbytes == 3000 * 34 * 2 and full.nbytes == gal.numel() * 4 + 3000 * 34 * 2
    (tmp_path / "ix" / "feats.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(VireidError, match="feats"):
        GalleryIndex.load(tmp_path / "ix", mmap=True)


@pytest.mark.parametrize(
    ("backend", "nlist", "said"),
    [
        ("exact", 3, "nlist 3: only the faiss-ivf backend has lists; this is backend 'exact'"),
        ("faiss-flat", 1, "nlist 1: only the faiss-ivf backend has lists"),
        ("faiss-ivf", 9, "nlist 9: more lists than the gallery's 8 images; give at most 8"),
    ],
)
def test_nlist_that_cannot_apply_is_refused(backend, nlist, said):
    """Lists were clamped to the gallery's size, or ignored by exhaustive backends, silently."""
    if backend != "exact":
        pytest.importorskip("faiss")
    gal = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    entries = [{"path": f"{i}.jpg", "pid": i, "camid": 1} for i in range(8)]
    with pytest.raises(VireidError, match="^" + re.escape(said)):
        GalleryIndex(gal, entries, modality="visible", backend=backend, nlist=nlist)
    if backend == "faiss-ivf":
        assert GalleryIndex(gal, entries, modality="visible", backend=backend, nlist=8).nlist == 8
        assert GalleryIndex(gal, entries, modality="visible", backend=backend).nlist == 8  # 4 sqrt(8) > 8


def test_check_nprobe_says_what_it_does_not_do():
    from vireid.search.index import check_nprobe

    assert check_nprobe("faiss-ivf", 8, 8) is None
    assert check_nprobe("faiss-ivf", 8, 9) == "nprobe 9 is more than the index's 8 lists; all 8 are visited"
    assert "ignored" in check_nprobe("faiss-flat", 0, 2)
