"""The model contract and DEEN's test-time fusion in ReIDModel.embed."""

import pytest
import torch
from torch import nn

from vireid.errors import ShapeError
from vireid.models.base import EvalOutput, ReIDModel, TrainOutput, check_images, modality_to_modal


class Tiny(ReIDModel):
    """Three embeddings like DEEN: the input and two scaled copies."""

    num_embeddings = 3

    def __init__(self):
        super().__init__()
        self.vis = nn.Conv2d(3, 4, 3)
        self.ir = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm1d(4)
        self.cls = nn.Linear(4, 5, bias=False)

    def forward_features(self, x_vis, x_ir, modal=0):
        parts = []
        if modal in (0, 1):
            parts.append(self.vis(x_vis))
        if modal in (0, 2):
            parts.append(self.ir(x_ir))
        x = torch.cat(parts).mean((2, 3))
        x = torch.cat([x, 2 * x.flip(1), x.roll(1, 1)])
        return x, {"ort": x.sum() * 0}, {}

    def forward_head(self, pooled):
        f = self.bn(pooled)
        return f, self.cls(f)


def test_train_and_eval_outputs():
    m = Tiny()
    x = torch.randn(2, 3, 8, 4)
    out = m(x, x, 0)
    assert isinstance(out, TrainOutput) and out.feat.shape == (12, 4) and out.logits.shape == (12, 5)
    m.eval()
    out = m(x, None, 1)
    assert isinstance(out, EvalOutput) and out.feat.shape == (6, 4)
    torch.testing.assert_close(out.feat.norm(dim=1), torch.ones(6))


def test_embed_matches_authors_fusion():
    """Inner products of unnormalised descriptors equal DEEN test.py's distmat7 / distmat8."""
    torch.manual_seed(0)
    m = Tiny().eval()
    q, g = torch.randn(3, 3, 8, 4), torch.randn(5, 3, 8, 4)

    def six(x, modal):
        a = m(x if modal == 1 else None, x if modal == 2 else None, modal)
        b = m(x.flip(3) if modal == 1 else None, x.flip(3) if modal == 2 else None, modal)
        pool, bn = a.feat + b.feat, a.feat_bn + b.feat_bn
        n = x.shape[0]
        return [pool[i * n : (i + 1) * n] for i in range(3)], [bn[i * n : (i + 1) * n] for i in range(3)]

    qp, qb = six(q, 2)
    gp, gb = six(g, 1)
    d7 = sum(qp[i] @ gp[i].T + qb[i] @ gb[i].T for i in range(3))
    d8 = sum(0.1 * qp[i] @ gp[i].T + 0.9 * qb[i] @ gb[i].T for i in range(3))
    dq = m.embed(q, "infrared", normalize=False)
    dg = m.embed(g, "visible", normalize=False)
    torch.testing.assert_close(dq @ dg.T, d7)
    dq = m.embed(q, "infrared", combine="weighted", normalize=False)
    dg = m.embed(g, "visible", combine="weighted", normalize=False)
    torch.testing.assert_close(dq @ dg.T, d8)
    d = m.embed(q, 2)
    assert d.shape == (3, 24)
    torch.testing.assert_close(d.norm(dim=1), torch.ones(3))


def test_embed_restores_training_mode():
    m = Tiny().train()
    m.embed(torch.randn(2, 3, 8, 4), "visible")
    assert m.training


def test_bad_inputs():
    with pytest.raises(ShapeError, match="modality"):
        modality_to_modal("ultraviolet")
    with pytest.raises(ShapeError, match=r"\(B, 3, H, W\)"):
        check_images(torch.randn(2, 1, 8, 8), "x_vis")
    with pytest.raises(ShapeError, match="too small"):
        check_images(torch.randn(2, 3, 8, 8), "x_vis", min_hw=(16, 16))
    with pytest.raises(ShapeError, match="combine"):
        Tiny().embed(torch.randn(2, 3, 8, 4), "visible", combine="max")


def test_embed_names_what_it_got():
    """embed takes preprocessed float images (its docstring); a raw uint8 batch is named, not a torch error."""
    m = Tiny()
    with pytest.raises(ShapeError, match=r"expected preprocessed float images.*got a torch.uint8 tensor.*load_model"):
        m.embed(torch.zeros(2, 3, 8, 4, dtype=torch.uint8), "visible")
    with pytest.raises(ShapeError, match=r"got a ndarray"):
        m.embed(torch.zeros(2, 3, 8, 4).numpy(), "visible")
    with pytest.raises(ShapeError, match=r"embed: expected images of shape \(B, 3, H, W\)"):
        m.embed(torch.zeros(3, 8, 4), "visible")


def test_modality_names_any_case_and_every_alias_listed():
    for name in ("visible", "VISIBLE", "Vis", "rgb", "RGB", 1):
        assert modality_to_modal(name) == 1
    for name in ("infrared", "IR", "ir", "Nir", "thermal", "THERMAL", 2):
        assert modality_to_modal(name) == 2
    with pytest.raises(ShapeError) as info:
        modality_to_modal("uv")
    for alias in ("visible", "vis", "rgb", "infrared", "ir", "nir", "thermal"):
        assert alias in str(info.value)
    assert Tiny().embed(torch.randn(1, 3, 8, 4), "IR").shape == Tiny().embed(torch.randn(1, 3, 8, 4), 2).shape
