import math

import pytest
import torch
import torch.nn.functional as F

from tests.engine.tiny import TinyData, TinyReID
from vireid.engine.criterion import DEENCriterion
from vireid.errors import ConfigError
from vireid.losses import CPMLoss, TripletLoss


def forward():
    torch.manual_seed(0)
    model = TinyReID(num_classes=4).train()
    x_vis, x_ir, y_vis, y_ir = TinyData(p=2, k=2).batch(0, 0)
    return model, model(x_vis, x_ir), y_vis, y_ir


def test_every_term_present_finite_and_as_in_deen_train_py():
    model, out, y_vis, y_ir = forward()
    terms = DEENCriterion()(out, y_vis, y_ir, model=model)
    assert set(terms) == {"id", "tri", "cpm", "ort"}
    assert all(t.dim() == 0 and math.isfinite(t.item()) for t in terms.values())
    # the authors' composition (DEEN/train.py), with their label vectors
    labels = torch.cat((y_vis, y_vis, y_vis, y_ir, y_ir, y_ir))
    labs = torch.cat((y_vis, y_vis, y_ir, y_ir))
    ft1, ft2, ft3 = out.feat.chunk(3)
    cpm = CPMLoss(0.2)
    assert terms["id"].item() == pytest.approx(F.cross_entropy(out.logits, labels).item(), rel=1e-6)
    assert terms["tri"].item() == pytest.approx(TripletLoss(0.3)(out.feat, labels).item(), rel=1e-6)
    ref_cpm = (cpm(torch.cat((ft1, ft2)), labs) + cpm(torch.cat((ft1, ft3)), labs)) * 0.8
    assert terms["cpm"].item() == pytest.approx(ref_cpm.item(), rel=1e-6)
    assert terms["ort"].item() == pytest.approx(0.01 * out.aux_losses["ort"].item(), rel=1e-6)


def test_lambda_weights_scale_their_terms_only():
    model, out, y_vis, y_ir = forward()
    a = DEENCriterion()(out, y_vis, y_ir)
    b = DEENCriterion(cpm_weight=0.4, ort_weight=0.03, id_weight=2.0, triplet="none")(out, y_vis, y_ir)
    assert b["cpm"].item() == pytest.approx(a["cpm"].item() / 2, rel=1e-6)
    assert b["ort"].item() == pytest.approx(a["ort"].item() * 3, rel=1e-6)
    assert b["id"].item() == pytest.approx(a["id"].item() * 2, rel=1e-6)
    assert "tri" not in b


def test_optional_terms_and_gradients():
    model, out, y_vis, y_ir = forward()
    out.aux_losses["extra"] = out.feat.pow(2).mean()
    crit = DEENCriterion(aux_weights={"extra": 0.5}, svdo_ow_weight=1e-3, infonce_weight=0.1, triplet="weighted")
    model.ow_modules = lambda: [model.stem_vis, model.body]
    terms = crit(out, y_vis, y_ir, model=model)
    assert {"extra", "ow", "nce"} <= set(terms)
    assert terms["extra"].item() == pytest.approx(0.5 * out.aux_losses["extra"].item(), rel=1e-6)
    sum(terms.values()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with pytest.raises(ConfigError, match="of_features"):
        DEENCriterion(svdo_of_weight=1e-6)(out, y_vis, y_ir, model=model)


def test_metric_normalize_makes_triplet_and_cpm_scale_invariant():
    model, out, y_vis, y_ir = forward()
    scaled = out._replace(feat=out.feat * 7.0)
    norm = DEENCriterion(metric_normalize=True)
    a, b = norm(out, y_vis, y_ir), norm(scaled, y_vis, y_ir)
    for term in ("tri", "cpm"):
        assert a[term].item() == pytest.approx(b[term].item(), rel=1e-5)
    labels = torch.cat((y_vis, y_ir)).repeat(3)
    ref = TripletLoss(0.3)(F.normalize(out.feat, dim=1), labels)
    assert a["tri"].item() == pytest.approx(ref.item(), rel=1e-6)
    plain = DEENCriterion()
    assert plain(scaled, y_vis, y_ir)["tri"].item() != pytest.approx(plain(out, y_vis, y_ir)["tri"].item())


def test_loss_dtype_float32_from_bf16_and_float64_kept():
    model, out, y_vis, y_ir = forward()
    low = out._replace(feat=out.feat.bfloat16(), logits=out.logits.bfloat16(),
                       aux_losses={k: v.bfloat16() for k, v in out.aux_losses.items()})
    assert all(t.dtype == torch.float32 for t in DEENCriterion()(low, y_vis, y_ir).values())
    high = out._replace(feat=out.feat.double(), logits=out.logits.double(),
                        aux_losses={k: v.double() for k, v in out.aux_losses.items()})
    terms = DEENCriterion()(high, y_vis, y_ir)
    assert all(t.dtype == torch.float64 for t in terms.values())  # float64 references stay float64
