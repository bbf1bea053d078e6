"""The service benchmark's reference and rows (tiny shapes; the real run is in RESULTS.md)."""

from __future__ import annotations

import math

import numpy as np
import torch

from benchmarks import bench_search, search_memory
from benchmarks import search_service as service


def test_the_float64_reference_breaks_exact_ties_by_index():
    qry, gal = service.data(500, 16, "copies", 7)
    ref = service.float64_topk(qry, gal, 10)
    prods = qry.double().numpy()[:, None, :] * gal.double().numpy()[None]
    exact = np.array([[math.fsum(p) for p in row] for row in prods])
    order = np.lexsort((np.broadcast_to(np.arange(500), exact.shape), -exact), axis=1)[:, :10]
    assert np.array_equal(ref.numpy(), order)
    assert bool((ref[:, 1:5] - ref[:, :4] >= 0).all())  # the 5 copies of the nearest vector, in index order


def test_a_service_case_gives_every_row_and_is_exact(tmp_path):
    rows, summary = service.run_case(
        "tiny", 3000, 32, 10, "clustered", (1, 16), rounds=1, lat_rounds=1, with_memory=False
    )
    names = [r["name"] for r in rows]
    assert any(n.endswith("build") for n in names) and sum("built index" in n for n in names) == 2
    assert sum("build + first search" in n for n in names) == 2 and summary["exact"]
    targets = bench_search.target_rows([summary, summary])
    assert [r["name"].split(":")[0] for r in targets] == ["target"] * 4
    folder = tmp_path / "m"
    folder.mkdir()
    np.save(folder / "queries.npy", torch.randn(4, 32).numpy())
    gal = torch.nn.functional.normalize(torch.randn(300, 32), dim=1)
    from vireid.search import GalleryIndex

    GalleryIndex(gal, [{"path": "", "pid": 0, "camid": 0}] * 300, modality="visible").save(folder / "index")
    got = search_memory.child("vireid load mmap", str(folder), 5)
    assert set(got) == {"base", "loaded", "peak", "held"}
