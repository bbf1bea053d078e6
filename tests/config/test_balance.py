"""No shipped recipe is dominated by one loss term: every weighted term at initialisation lies in a
band around the recipe's main terms.

Every shipped config (walked from ``vireid/configs/``, so a new one is covered without editing this
file) is built with random weights at a small input size and given one batch of the synthetic
data (2 identities x 2 images per modality).  Its objective's weighted terms are compared with
``M``, the largest of its main terms (identity, triplet, CPM):

    BAND_LOW * M  <=  term  <=  BAND_HIGH * M       for every other term with a non-zero weight

``BAND_HIGH = 10``: no auxiliary term may outweigh the recipe it regularises by more than an order
of magnitude.  ``BAND_LOW = 1e-6``: a term with a non-zero weight must not vanish (a weight off by
orders of magnitude, e.g. a wrong exponent, is caught).  The low end is loose because the test
size is small: terms on feature maps (ABD-Net's O.F.) grow with the map's area, linearly in
ABD-Net's form and quadratically in the paper's, so at a quarter of each side they are 16 x and
256 x smaller against the other terms than at the config's own size (measured for
``abd_cam_sysu`` from random weights: O.F. 0.31 at 384 x 144 and 0.019 at 96 x 36, main terms
near 45 at both; ``abd_paper_sysu``'s squared O.F. is 1.3e-5 x its main terms here).  A config
keeps a term outside the band on purpose by naming its ``loss`` section (``svdo_ow``), with the
reason, under its top-level ``balance_exceptions``.

Models keep their widths and depths (the loss scales depend on them); the input is each config's
size divided by 4 per side (on a multiple of 32, at least 64 x 32, at most its own).  Configs with the same
model, size and loss settings are computed once.  Cost: about 15 s on one idle core.
"""

from __future__ import annotations

import json
from functools import lru_cache

import pytest
import torch

from tests.engine.tiny import tiny_dataset
from vireid.config import Config, build, load_config, to_dict
from vireid.config.shipped import shipped_configs

BAND_HIGH = 10.0
BAND_LOW = 1e-6
MAIN_TERMS = ("id", "triplet", "cpm")  # loss.<term> names, as balance_exceptions
NUM_CLASSES = 395  # SYSU-MM01's training identities: the identity term starts near log(395)
# ABD-Net's O.F. before this check existed: the paper's squared form, the batch mean, beta = 1e-6
OLD_ABD_OF = ["loss.svdo_of.form=paper", "loss.svdo_of.weight=1.0e-6"]


def test_size(height: int, width: int) -> tuple[int, int]:
    """A quarter of each side, on a multiple of 32, at least 64 x 32 (never above the config's)."""
    h = min(height, max(64, 32 * round(height / 128)))
    w = min(width, max(32, 32 * round(width / 128)))
    return h, w


test_size.__test__ = False  # a helper, not a test


def small_config(cfg: Config) -> Config:
    """``cfg`` at the test size, from random weights (ViT: ``img_size`` follows the input)."""
    h, w = test_size(cfg.data.height, cfg.data.width)
    over = [f"data.height={h}", f"data.width={w}", "model.pretrained=none"]
    if "img_size" in cfg.model.args or cfg.model.name == "deen_vit":
        over.append(f"model.args.img_size=[{h},{w}]")
    from vireid.config import apply_overrides

    return apply_overrides(cfg, over)


@lru_cache(maxsize=None)
def _batch(height: int, width: int, root: str) -> tuple[torch.Tensor, ...]:
    """One P=2 x K=2 batch of the synthetic data at ``height x width`` (test-time preprocessing)."""
    from vireid.data.datasets import build_dataset
    from vireid.data.loaders import build_test_loader

    records = build_dataset("sysu", root).train
    out = []
    for modality in ("visible", "infrared"):
        pids = sorted({r.pid for r in records if r.modality == modality})[:2]
        chosen = [r for pid in pids for r in [x for x in records if x.pid == pid and x.modality == modality][:2]]
        assert len(chosen) == 4, chosen
        loader = build_test_loader(chosen, height=height, width=width, batch_size=4)
        images, _, _ = next(iter(loader))
        out.append(images)
    labels = torch.tensor([0, 0, 1, 1])
    return out[0], out[1], labels, labels.clone()


@lru_cache(maxsize=None)
def _terms(key: str, root: str) -> dict[str, tuple[str, float]]:
    from vireid.objective.terms import TERMS

    cfg = load_config_from_key(key)
    torch.manual_seed(0)
    model = build.build_model(cfg.model, NUM_CLASSES).train()
    objective = build.build_objective(cfg.loss, model)
    x_vis, x_ir, l_vis, l_ir = _batch(cfg.data.height, cfg.data.width, root)
    with torch.no_grad():
        values = objective(model(x_vis, x_ir), l_vis, l_ir)
    # the config section (loss.<term>) each returned value comes from: DEEN's "ort" and an expansion's
    # "expansion_ort" both come from loss.ort
    section = {t.name: next(n for n in TERMS.names() if type(t) is TERMS.get(n)) for t in objective.terms}
    return {name: (section[name], float(v)) for name, v in values.items()}


def _key(cfg: Config) -> str:
    """What the terms depend on: the model, the input size and the loss settings."""
    d = to_dict(cfg)
    return json.dumps(
        {"model": d["model"], "size": [cfg.data.height, cfg.data.width], "loss": d["loss"]}, sort_keys=True
    )


def load_config_from_key(key: str) -> Config:
    from vireid.config import from_dict

    d = json.loads(key)
    return from_dict({"model": d["model"], "loss": d["loss"], "data": {"height": d["size"][0], "width": d["size"][1]}})


def term_values(cfg: Config, root: str) -> dict[str, tuple[str, float]]:
    """Every weighted term of ``cfg``'s objective at initialisation, at the test size:
    ``{returned name: (loss.<term> section, value)}``."""
    return _terms(_key(small_config(cfg)), root)


def violations(cfg: Config, root: str) -> list[str]:
    """Terms outside the band (those ``balance_exceptions`` names left out), one line each."""
    values = term_values(cfg, root)
    main = [v for section, v in values.values() if section in MAIN_TERMS]
    assert main, f"no main term among {sorted(values)}"
    top = max(main)
    out = []
    for name, (section, v) in values.items():
        if section in MAIN_TERMS or section in cfg.balance_exceptions:
            continue
        if not BAND_LOW * top <= v <= BAND_HIGH * top:
            out.append(f"{name} = {v:.4g} is {v / top:.3g} x the largest main term ({top:.4g})")
    return out


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("balance") / "synth")


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_every_shipped_config_is_balanced_at_initialisation(name, synth_root):
    cfg = load_config(name)
    for term, reason in cfg.balance_exceptions.items():
        assert isinstance(reason, str) and reason.strip(), f"{name}: balance_exceptions.{term} needs a reason"
    assert violations(cfg, synth_root) == [], name


def test_the_old_abd_feature_orthogonality_setting_fails(synth_root):
    """The paper's squared O.F. at beta = 1e-6 (the shipped setting before this check) dominates: the
    check catches it at the test size, for the CAM after layer1 (ABD-Net's) and after layer2."""
    for position in ("layer1", "layer2"):
        cfg = load_config("abd_sysu", [*OLD_ABD_OF, f"model.args.abd_cam_position={position}"])
        bad = violations(cfg, synth_root)
        assert len(bad) == 1 and bad[0].startswith("of = "), (position, bad)


def test_a_vanishing_weight_fails_and_an_exception_needs_its_name(synth_root):
    cfg = load_config("abd_ow_sysu", ["loss.svdo_ow.weight=1.0e-12"])
    assert [v.split(" = ")[0] for v in violations(cfg, synth_root)] == ["ow"]
    excused = load_config("abd_ow_sysu", ["loss.svdo_ow.weight=1.0e-12", "balance_exceptions={svdo_ow: a test}"])
    assert violations(excused, synth_root) == []


def test_test_size_is_a_quarter_of_each_side():
    assert test_size(384, 144) == (96, 32)
    assert test_size(288, 144) == (64, 32)
    assert test_size(64, 32) == (64, 32)
    assert test_size(32, 16) == (32, 16)
