"""pairwise_distance against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vireid.errors import ShapeError, VireidError
from vireid.evaluation import pairwise_distance


def test_metrics_match_direct_formulas():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((9, 5))
    diff = a[:, None, :] - b[None, :, :]
    sq = (diff**2).sum(-1)
    np.testing.assert_allclose(pairwise_distance(a, b, "sqeuclidean"), sq, atol=1e-10)
    np.testing.assert_allclose(pairwise_distance(a, b, "euclidean", block_rows=3), np.sqrt(sq), atol=1e-10)
    an, bn = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(pairwise_distance(a, b, "cosine"), 1 - an @ bn.T, atol=1e-10)
    assert pairwise_distance(a, b).dtype == np.float64
    assert pairwise_distance(a.astype(np.float32), b.astype(np.float32)).dtype == np.float32


def test_torch_in_torch_out_and_self_distance_zero():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))  # unseeded, float32 cancellation
    # in ||a||^2 + ||b||^2 - 2ab occasionally left a self-distance above the tolerance
    d = pairwise_distance(x, x)
    assert isinstance(d, torch.Tensor) and d.shape == (6, 6)
    assert torch.all(d >= 0) and torch.allclose(torch.diagonal(d), torch.zeros(6), atol=1e-3)


def test_errors():
    with pytest.raises(ShapeError, match="descriptor sizes differ"):
        pairwise_distance(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ShapeError, match="2-D"):
        pairwise_distance(np.zeros(3), np.zeros((2, 3)))
    with pytest.raises(VireidError, match="unknown distance metric"):
        pairwise_distance(np.zeros((2, 3)), np.zeros((2, 3)), "manhattan")


def test_inner_and_query_gallery_distance():
    from vireid.evaluation.distance import query_gallery_distance
    from vireid.evaluation.rerank import re_rank

    g = torch.Generator().manual_seed(0)
    q, x = torch.randn(5, 8, generator=g), torch.randn(7, 8, generator=g)
    inner = query_gallery_distance(q, x, "inner")
    assert torch.equal(inner, -(q @ x.t()))  # the evaluator's distance, exactly
    np.testing.assert_allclose(pairwise_distance(q.numpy(), x.numpy(), "inner"), inner.numpy(), rtol=1e-5, atol=1e-5)
    qn, xn = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(x, dim=1)
    cos = pairwise_distance(q, x, "cosine")
    assert torch.equal(pairwise_distance(qn, xn, "inner").argsort(1), cos.argsort(1))  # same ranking when normalised
    rr = query_gallery_distance(q, x, "inner", rerank=True)  # re-ranking of Euclidean distances of normalised
    ref = re_rank(pairwise_distance(qn, xn), pairwise_distance(qn, qn), pairwise_distance(xn, xn))
    assert rr.dtype == torch.float32 and torch.equal(rr, torch.from_numpy(ref.astype(np.float32)))
    e = query_gallery_distance(q.numpy(), x.numpy(), "euclidean", rerank=True)
    assert isinstance(e, np.ndarray) and np.allclose(
        e, re_rank(pairwise_distance(q, x), pairwise_distance(q, q), pairwise_distance(x, x))
    )
    with pytest.raises(VireidError, match="unknown distance metric"):
        query_gallery_distance(q, x, "manhattan")
