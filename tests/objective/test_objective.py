"""The objective: DEEN's composition term by term (as DEEN/train.py), weights, optional terms, the model
contract (declared model losses, typed TrainOutput fields)."""

import math

import pytest
import torch
import torch.nn.functional as F

from tests.engine.tiny import TinyData, TinyReID
from vireid.errors import ConfigError
from vireid.losses import CPMLoss, InfoNCE, TripletLoss
from vireid.losses.infonce import branch_infonce
from vireid.objective import Objective, Term, build_objective


def forward():
    torch.manual_seed(0)
    model = TinyReID(num_classes=4).train()
    x_vis, x_ir, y_vis, y_ir = TinyData(p=2, k=2).batch(0, 0)
    return model, model(x_vis, x_ir), y_vis, y_ir


def test_every_term_present_finite_and_as_in_deen_train_py():
    model, out, y_vis, y_ir = forward()
    terms = build_objective(model)(out, y_vis, y_ir)
    assert list(terms) == ["id", "tri", "cpm", "ort"]
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
    a = build_objective(model)(out, y_vis, y_ir)
    b = build_objective(
        model, {"cpm": {"weight": 0.4}, "ort": {"weight": 0.03}, "id": {"weight": 2.0}, "triplet": {"weight": 0}}
    )(out, y_vis, y_ir)
    assert b["cpm"].item() == pytest.approx(a["cpm"].item() / 2, rel=1e-6)
    assert b["ort"].item() == pytest.approx(a["ort"].item() * 3, rel=1e-6)
    assert b["id"].item() == pytest.approx(a["id"].item() * 2, rel=1e-6)
    assert "tri" not in b


def test_optional_terms_and_gradients():
    model, out, y_vis, y_ir = forward()
    model.ow_modules = lambda reach="abd": [model.stem_vis, model.body]
    objective = build_objective(
        model, {"svdo_ow": {"weight": 1e-3}, "infonce": {"weight": 0.1}, "triplet": {"kind": "weighted"}}
    )
    terms = objective(out, y_vis, y_ir)
    assert {"ow", "nce"} <= set(terms)
    n = y_vis.shape[0]
    orig = out.feat[: 2 * n]
    ref = InfoNCE(0.1)(orig[:n], orig[n:], y_vis, y_ir)
    assert terms["nce"].item() == pytest.approx(0.1 * ref.item(), rel=1e-6)
    sum(terms.values()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with pytest.raises(ConfigError, match="of_features"):
        build_objective(model, {"svdo_of": {"weight": 1e-6}})(out, y_vis, y_ir)


def test_model_losses_are_declared_and_weighted_lambda2_by_default():
    model, out, y_vis, y_ir = forward()
    model.aux_loss_names = ("ort", "expansion_ort")
    out.aux_losses["expansion_ort"] = out.feat.pow(2).mean()
    terms = build_objective(model)(out, y_vis, y_ir)
    assert terms["expansion_ort"].item() == pytest.approx(0.01 * out.aux_losses["expansion_ort"].item(), rel=1e-6)
    terms = build_objective(model, {"ort": {"weights": {"expansion_ort": 0.5}}})(out, y_vis, y_ir)
    assert terms["expansion_ort"].item() == pytest.approx(0.5 * out.aux_losses["expansion_ort"].item(), rel=1e-6)
    with pytest.raises(ConfigError, match="loss.ort.weights: typo not among the model's losses"):
        build_objective(model, {"ort": {"weights": {"typo": 1.0}}})
    del out.aux_losses["expansion_ort"]
    with pytest.raises(ConfigError, match="did not return"):
        build_objective(model)(out, y_vis, y_ir)


def test_infonce_uses_branch_embeddings_and_modality_when_given():
    model, out, y_vis, y_ir = forward()
    g = torch.Generator().manual_seed(1)
    branches = torch.randn(2, 2 * y_vis.shape[0], 6, generator=g)
    modality = torch.cat((torch.full_like(y_vis, 1), torch.full_like(y_ir, 2)))
    out2 = out._replace(branch_embeddings=branches, modality=modality)
    terms = build_objective(model, {"infonce": {"weight": 1.0, "temperature": 0.2}})(out2, y_vis, y_ir)
    ref = branch_infonce(branches, torch.cat((y_vis, y_ir)), modality, 0.2)
    assert terms["nce"].item() == pytest.approx(ref.item(), rel=1e-6)


def test_metric_normalize_makes_triplet_and_cpm_scale_invariant():
    model, out, y_vis, y_ir = forward()
    scaled = out._replace(feat=out.feat * 7.0)
    norm = build_objective(model, {"triplet": {"normalize": True}, "cpm": {"normalize": True}})
    a, b = norm(out, y_vis, y_ir), norm(scaled, y_vis, y_ir)
    for term in ("tri", "cpm"):
        assert a[term].item() == pytest.approx(b[term].item(), rel=1e-5)
    labels = torch.cat((y_vis, y_ir)).repeat(3)
    ref = TripletLoss(0.3)(F.normalize(out.feat, dim=1), labels)
    assert a["tri"].item() == pytest.approx(ref.item(), rel=1e-6)
    plain = build_objective(model)
    assert plain(scaled, y_vis, y_ir)["tri"].item() != pytest.approx(plain(out, y_vis, y_ir)["tri"].item())


def test_custom_terms_compose():
    class Norm(Term):
        name = "norm"

        def forward(self, batch):
            return batch.out.feat.pow(2).mean()

    model, out, y_vis, y_ir = forward()
    objective = Objective([(2.0, Norm())])
    assert objective(out, y_vis, y_ir)["norm"].item() == pytest.approx(2 * out.feat.pow(2).mean().item())
    with pytest.raises(ConfigError, match="duplicate"):
        Objective([(1.0, Norm()), (1.0, Norm())])
    with pytest.raises(ConfigError, match=r"^loss\.triplet\.kind: expected one of batch_hard, weighted, got 'hard'$"):
        build_objective(model, {"triplet": {"kind": "hard"}})
    with pytest.raises(ConfigError, match=r"^loss\.tripplet: unknown objective term; expected one of id, triplet"):
        build_objective(model, {"tripplet": {}})
    with pytest.raises(ConfigError, match=r"^loss\.cpm\.margin: must be >= 0, got -1"):
        build_objective(model, {"cpm": {"margin": -1}})


def test_loss_dtype_float32_from_bf16_and_float64_kept():
    model, out, y_vis, y_ir = forward()
    objective = build_objective(model)
    low = out._replace(
        feat=out.feat.bfloat16(),
        logits=out.logits.bfloat16(),
        aux_losses={k: v.bfloat16() for k, v in out.aux_losses.items()},
    )
    assert all(t.dtype == torch.float32 for t in objective(low, y_vis, y_ir).values())
    high = out._replace(
        feat=out.feat.double(),
        logits=out.logits.double(),
        aux_losses={k: v.double() for k, v in out.aux_losses.items()},
    )
    assert all(t.dtype == torch.float64 for t in objective(high, y_vis, y_ir).values())  # references stay float64


def test_feature_orthogonality_forms():
    """``loss.svdo_of.form``: ABD-Net's code (the default: linear gap, sum / (B / 32)) or the paper's
    squared gap averaged over samples; the config's choices are the term's forms."""
    import typing

    from vireid.losses import FeatureOrthogonality
    from vireid.objective.terms import SVDO_OF_FORMS, TERMS

    model, out, y_vis, y_ir = forward()
    maps = torch.relu(torch.randn(8, 6, 4, 2, generator=torch.Generator().manual_seed(0)))
    out = out._replace(of_features=maps)

    def seeded(value):  # the power iteration's start vectors come from the global RNG
        torch.manual_seed(1)
        return value()

    def of(**section):
        return seeded(lambda: build_objective(model, {"svdo_of": {"weight": 1e-6, **section}})(out, y_vis, y_ir)["of"])

    default, abd, paper = of(), of(form="abd"), of(form="paper")
    linear_mean = seeded(lambda: FeatureOrthogonality(beta=1e-6, squared=False)(maps))
    squared_mean = seeded(lambda: FeatureOrthogonality(beta=1e-6, squared=True)(maps))
    assert default.item() == abd.item() == pytest.approx(32 * linear_mean.item(), rel=1e-5)
    assert paper.item() == pytest.approx(squared_mean.item(), rel=1e-5)
    declared = TERMS.get("svdo_of").config_params().params["form"].annotation
    assert typing.get_args(declared) == tuple(SVDO_OF_FORMS)
    with pytest.raises(ConfigError, match="svdo_of.form"):
        build_objective(model, {"svdo_of": {"weight": 1e-6, "form": "squared"}})


def test_a_wrapped_loss_declares_the_term_s_keys():
    """A hyperparameter of a wrapped loss (CPMLoss's margin) is a config key of its term with no other
    declaration: a new one is an edit of the loss's file alone."""
    from vireid.core.params import declared_params
    from vireid.objective import TERMS

    wrapped = [TERMS.get(n) for n in TERMS.names() if TERMS.get(n).wraps is not None]
    assert {cls.__name__ for cls in wrapped} >= {"CPMTerm", "IdentityTerm"}
    for cls in wrapped:
        loss_cls, skip = cls.wraps
        assert set(declared_params(loss_cls, skip=skip).names()) <= set(cls.config_params().names())


def test_ow_reach_is_a_config_key_passed_to_the_model():
    """loss.svdo_ow.reach reaches model.ow_modules: "abd" (default, ABD-Net's code) or "all" (its paper)."""
    model, _, _, _ = forward()
    asked = []
    model.ow_modules = lambda reach: asked.append(reach) or [model.stem_vis]
    build_objective(model, {"svdo_ow": {"weight": 1e-3}})
    build_objective(model, {"svdo_ow": {"weight": 1e-3, "reach": "all"}})
    assert asked == ["abd", "all"]
