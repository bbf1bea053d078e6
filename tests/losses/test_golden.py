"""Parity with the authors' loss code (numbers in tests/fixtures/losses_golden.json).

The fixture was produced by running DEEN's ``loss.py`` (CPMLoss, OriTripletLoss,
TripletLoss_WRT), AGW's OriTripletLoss and the ``loss_ort`` lines of DEEN's ``model.py``
verbatim (outside the repo) on the batches of ``deen_batch.make_deen_batch``; here we
regenerate the same inputs and compare values and gradient probes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.losses.deen_batch import GOLDEN_CASES, make_deen_batch
from vireid.losses import (
    CPMLoss,
    TripletLoss,
    WeightedRegularizedTriplet,
    batch_hard_distances,
    deen_orthogonal_loss,
    triplet_correct,
    wrt_distances,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "losses_golden.json"
GOLDEN = json.loads(FIXTURE.read_text())
ATOL = 1e-5


def _value_and_probe(fn, batch):
    feat = batch["feat1"].clone().requires_grad_(True)
    loss = fn(feat)
    loss.backward()
    return float(loss.detach()), float((feat.grad * batch["probe"]).sum())


def _cases():
    return [pytest.param(c, id=f"seed{c['seed']}-{c['num_ids']}x{c['num_pos']}-{c['dim']}d") for c in GOLDEN["cases"]]


def test_fixture_covers_the_declared_cases():
    assert [(c["seed"], c["num_ids"], c["num_pos"], c["dim"]) for c in GOLDEN["cases"]] == GOLDEN_CASES


@pytest.mark.parametrize("case", _cases())
def test_matches_authors_code(case):
    b = make_deen_batch(case["seed"], case["num_ids"], case["num_pos"], case["dim"])
    gold = case["outputs"]
    cpm, tri, wrt = CPMLoss(margin=0.2), TripletLoss(margin=0.3), WeightedRegularizedTriplet()
    wrt_n = WeightedRegularizedTriplet(normalize_feature=True)
    fns = {
        "cpm_12": lambda f: cpm(torch.cat((f.chunk(3)[0], f.chunk(3)[1])), b["labs"]),
        "cpm_13": lambda f: cpm(torch.cat((f.chunk(3)[0], f.chunk(3)[2])), b["labs"]),
        "triplet": lambda f: tri(f, b["labels"]),
        "wrt": lambda f: wrt(f, b["labels"]),
        "wrt_norm": lambda f: wrt_n(f, b["labels"]),
        "ort": lambda f: deen_orthogonal_loss(f.view(f.shape[0], -1, 1, 1)),
    }
    for name, fn in fns.items():
        value, probe = _value_and_probe(fn, b)
        assert value == pytest.approx(gold[name], abs=ATOL, rel=1e-6), name
        assert probe == pytest.approx(gold[name + "_gprobe"], abs=ATOL, rel=1e-5), name + " gradient"
    with torch.no_grad():
        assert triplet_correct(*batch_hard_distances(b["feat1"], b["labels"])) == gold["triplet_correct"]
        assert triplet_correct(*wrt_distances(b["feat1"], b["labels"])) == gold["wrt_correct"]


@pytest.mark.parametrize("case", [c for c in _cases() if c.values[0]["dim"] <= 256])
def test_loop_references_agree_with_authors_code(case):
    from tests.losses.loop_reference import loop_cpm, loop_triplet

    b = make_deen_batch(case["seed"], case["num_ids"], case["num_pos"], case["dim"])
    gold = case["outputs"]
    ft1, ft2, ft3 = b["feat1"].chunk(3)
    assert loop_cpm(torch.cat((ft1, ft2)), b["labs"]).item() == pytest.approx(gold["cpm_12"], abs=1e-5)
    assert loop_cpm(torch.cat((ft1, ft3)), b["labs"]).item() == pytest.approx(gold["cpm_13"], abs=1e-5)
    assert loop_triplet(b["feat1"], b["labels"]).item() == pytest.approx(gold["triplet"], abs=1e-5)
