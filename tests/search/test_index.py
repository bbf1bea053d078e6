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


@pytest.mark.parametrize("bf16", [True, False])
def test_certified_bf16_scan_is_exact(bf16):
    """The bf16 scan + exact rescoring returns exactly the float32 top-k, near-ties included."""
    g = torch.Generator().manual_seed(3)
    gal = F.normalize(torch.randn(3000, 64, generator=g), dim=1)
    gal[1] = F.normalize(gal[0] + 1e-4 * torch.randn(64, generator=g), dim=0)  # a near-duplicate
    qry = torch.cat([gal[:5] + 0.01 * torch.randn(5, 64, generator=g), torch.randn(20, 64, generator=g)])
    qry = F.normalize(qry, dim=1)
    ref_s, ref_i = (qry @ gal.T).sort(dim=1, descending=True)
    s, i = exact_topk(qry, gal, k=10, block=512, bf16=bf16, candidates=32)
    torch.testing.assert_close(s, ref_s[:, :10])
    assert torch.equal(i, ref_i[:, :10])


def test_uncertain_queries_fall_back_to_float32():
    """Pure noise: the bf16 gap certificate fails for many queries, the answer is still exact."""
    g = torch.Generator().manual_seed(4)
    gal = F.normalize(torch.randn(2000, 512, generator=g), dim=1)
    qry = F.normalize(torch.randn(30, 512, generator=g), dim=1)
    ref_s, ref_i = (qry @ gal.T).sort(dim=1, descending=True)
    s, i = exact_topk(qry, gal, k=10, bf16=True, candidates=12)
    assert torch.equal(i, ref_i[:, :10])
