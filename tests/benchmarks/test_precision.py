"""The precision audit's machinery: plans reproduce autocast, errors and intervals are right."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks._precision import Plan, Step, group_errors, step_gradients
from benchmarks.precision_accuracy import interval
from vireid.models import DEEN
from vireid.objective import build_objective
from vireid.utils.precision import fp32_pins


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = DEEN(num_classes=4, base_channels=4, layers=(1, 1, 1, 1)).train()
    model.dee.dropout.p = 0.0
    for m in model.modules():  # non-zero MFA output BN: the MFA gradients are not zero
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    g = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 0, 1, 1])
    batch = (torch.randn(4, 3, 64, 32, generator=g), torch.randn(4, 3, 64, 32, generator=g), labels, labels)
    return model, batch, build_objective(model)


def test_plans_reproduce_plain_autocast_and_fp32(setup):
    model, batch, crit = setup
    with fp32_pins(False):  # plans describe the model without vireid's pins
        auto = step_gradients(model, batch, crit, Step(autocast=torch.bfloat16))
    pinned = step_gradients(model, batch, crit, Step(autocast=torch.bfloat16))
    low = step_gradients(model, batch, crit, Step(plan=Plan()))
    fp32 = step_gradients(model, batch, crit, Step())
    high = step_gradients(model, batch, crit, Step(plan=Plan(default="fp32")))
    for n in auto:
        assert torch.equal(auto[n], low[n]), n
        assert torch.equal(fp32[n], high[n]), n
    assert group_errors(auto, fp32)["all"] > 1e-3  # bf16 really differs
    assert group_errors(pinned, auto)["mfa1"] > 0  # and the pins change it


def test_plan_precision_of():
    plan = Plan(exceptions=[("mfa1", frozenset({"matmul"})), ("", frozenset({"pool"})), ("*", frozenset({"bn"}))])
    assert plan.precision_of("mfa1.cnl", "matmul") == "fp32"
    assert plan.precision_of("mfa10", "matmul") == "low"  # a prefix of names, not of strings
    assert plan.precision_of("mfa1.cnl", "conv") == "low"
    assert plan.precision_of("", "pool") == "fp32" and plan.precision_of("backbone", "pool") == "low"
    assert plan.precision_of("backbone.layer1.0.bn1", "bn") == "fp32"
    assert Plan(default="fp32", exceptions=[("dee", None)]).precision_of("dee.branch1.fuse", "conv") == "low"


def test_simulated_backward_rounding_keeps_the_forward(setup):
    model, batch, crit = setup
    ref = step_gradients(model, batch, crit, Step())
    bwd = step_gradients(model, batch, crit, Step(simulate="backward"))
    fwd = step_gradients(model, batch, crit, Step(simulate="forward"))
    assert 0 < group_errors(bwd, ref)["all"] < group_errors(fwd, ref)["all"]


def test_group_errors():
    ref = {"mfa1.x": torch.tensor([3.0, 4.0]), "classifier.weight": torch.tensor([1.0, 0.0])}
    g = {"mfa1.x": torch.tensor([3.0, 4.5]), "classifier.weight": torch.tensor([1.0, 0.0])}
    e = group_errors(g, ref)
    assert e["mfa1"] == pytest.approx(0.1) and e["head"] == 0.0
    assert e["all"] == pytest.approx(0.5 / math.sqrt(26))
    assert math.isnan(group_errors(None, ref)["all"])


def test_paired_interval():
    mean, lo, hi = interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and hi - mean == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-4) and lo < mean


def test_compared_steps_share_dropout_masks():
    torch.manual_seed(0)
    model = DEEN(num_classes=4, base_channels=4, layers=(1, 1, 1, 1)).train()
    model.dee.dropout.p = 0.5  # DEE's dropout: the audit's steps must draw the same masks
    labels = torch.tensor([0, 0, 1, 1])
    g = torch.Generator().manual_seed(1)
    batch = (torch.randn(4, 3, 64, 32, generator=g), torch.randn(4, 3, 64, 32, generator=g), labels, labels)
    crit = build_objective(model)
    a = step_gradients(model, batch, crit, Step(dtype=torch.float64))
    torch.rand(7)  # whatever the global RNG did in between
    b = step_gradients(model, batch, crit, Step(dtype=torch.float64))
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert group_errors(step_gradients(model, batch, crit, Step()), a)["all"] < 1e-4
    other = step_gradients(model, batch, crit, Step(dtype=torch.float64, seed=1))
    assert group_errors(other, a)["all"] > 1e-3  # other masks: another gradient
