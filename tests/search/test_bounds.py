"""The error bounds of the exact scan hold for the products it computes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vireid.search.bounds import U_BF16, bf16_error, fp32_error, gamma, max_norm, prepare_bf16


def _descriptors(d, seed):
    g = torch.Generator().manual_seed(seed)
    gal = F.normalize(torch.randn(3000, d, generator=g), dim=1)
    gal[:1500] = gal[:1500].bfloat16().float()  # bf16-exact rows: only the output rounds
    qry = torch.cat([gal[:20] + 0.05 * torch.randn(20, d, generator=g), torch.randn(20, d, generator=g)])
    qry = F.normalize(qry, dim=1)
    qry[:10] = qry[:10].bfloat16().float()
    return qry, gal


@pytest.mark.parametrize("d", [64, 2048])
def test_bf16_products_with_offsets_are_within_the_bound(d):
    qry, gal = _descriptors(d, d)
    prep = prepare_bf16(gal)
    qa = torch.zeros(len(qry), d + 2, dtype=torch.bfloat16)
    qa[:, :d] = qry
    eps = bf16_error(qry, qa[:, :d], prep)
    exact = qry.double() @ gal.double().T
    u = U_BF16 / (1 - U_BF16)
    for c in (0.0, 0.5, 0.875, -0.25):
        qa[:, d] = -c
        r = (qa @ prep.data.T).double()
        err = (r + c - exact).abs()
        bound = eps[:, None] + gamma(d + 2) * abs(c) + u * r.abs()
        assert bool((err <= bound).all())
    assert float(eps.max()) < 0.01  # and the bound is not vacuous


@pytest.mark.parametrize("d", [64, 2048])
def test_float32_products_are_within_the_bound(d):
    qry, gal = _descriptors(d, d + 1)
    eps = fp32_error(qry, max_norm(gal))
    exact = qry.double() @ gal.double().T
    for scores in ((qry @ gal.T).double(), torch.from_numpy(qry.numpy() @ gal.numpy().T).double()):
        assert bool(((scores - exact).abs() <= eps[:, None]).all())
    assert float(eps.max()) < 1e-3


def test_max_norm_is_an_upper_bound():
    gal = torch.randn(100, 300) * torch.logspace(-3, 3, 100)[:, None]
    assert max_norm(gal) >= float(gal.double().norm(dim=1).max())
    assert np.isclose(max_norm(gal), float(gal.double().norm(dim=1).max()), rtol=1e-4)


@pytest.mark.parametrize("d", [64, 2048])
def test_both_products_of_the_scan_are_within_the_bound(d):
    """One query (torch's bf16 matrix-vector kernel, oneDNN off) and several (oneDNN's product)."""
    from vireid.search.products import bf16_product, gemv_accumulates_in_fp32

    assert gemv_accumulates_in_fp32()  # this torch's kernel; another one would make the scan use mm
    qry, gal = _descriptors(d, d + 2)
    prep = prepare_bf16(gal)
    qa = torch.zeros(len(qry), d + 2, dtype=torch.bfloat16)
    qa[:, :d] = qry
    eps = bf16_error(qry, qa[:, :d], prep)
    exact = qry.double() @ gal.double().T
    u = U_BF16 / (1 - U_BF16)
    for c in (0.0, 0.75):
        qa[:, d] = -c
        for rows in (slice(0, 1), slice(3, 4), slice(0, len(qry))):
            out = torch.empty(rows.stop - rows.start, len(gal), dtype=torch.bfloat16)
            bf16_product(qa[rows], prep.data, out)
            r = out.double()
            bound = eps[rows, None] + gamma(d + 2) * abs(c) + u * r.abs()
            assert bool(((r + c - exact[rows]).abs() <= bound).all())


def test_the_one_pass_bounds_hold_and_are_tight():
    from vireid.search.bounds import scan_gallery

    g = torch.Generator().manual_seed(3)
    gal = torch.randn(1000, 300, generator=g) * torch.logspace(-20, 3, 1000)[:, None]
    gal[5] = 0
    gal[6, :10] = 1e-40  # subnormal
    prep, g_max = scan_gallery(gal, 1000, 300, bf16=True)
    g64, b64 = gal.double(), prep.data[:, :300].double()
    assert torch.equal(prep.data[:, :300], gal.bfloat16()) and bool((prep.data[:, 300] == 1).all())
    assert bool((prep.data[:, 301] == 0).all())
    for bound, true in (
        (prep.norm, b64.norm(dim=1).max()),
        (prep.err, (b64 - g64).norm(dim=1).max()),
        (g_max, g64.norm(dim=1).max()),
    ):
        assert float(true) <= bound <= float(true) * 1.01
    _, g32 = scan_gallery(gal, 1000, 300, bf16=False)
    assert float(g64.norm(dim=1).max()) <= g32 <= float(g64.norm(dim=1).max()) * (1 + 1e-4)


def test_the_pass_names_a_non_finite_row_and_bounds_huge_rows_by_infinity():
    from vireid.errors import ShapeError
    from vireid.search.bounds import scan_gallery

    gal = torch.randn(500, 64)
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = gal.clone()
        x[321, 7] = bad
        for bf16 in (True, False):
            with pytest.raises(ShapeError, match="G: row 321 contains NaN or inf"):
                scan_gallery(x, 500, 64, bf16=bf16, where="G")
    x = gal.clone()
    x[9] = 3e38  # finite, but its norm overflows float32 (and bf16 rounds it to inf)
    prep, g_max = scan_gallery(x, 500, 64, bf16=True)
    assert prep.norm == prep.err == g_max == float("inf")
    assert scan_gallery(x, 500, 64, bf16=False)[1] == float("inf")
