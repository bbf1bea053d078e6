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
