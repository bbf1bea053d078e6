import pytest

from tests.config.test_loader import CONFIGS
from vireid.config import build, load_config
from vireid.errors import ConfigError


def test_build_model_optimizer_schedule_from_config():
    cfg = load_config(CONFIGS / "test_tiny.yaml")
    model = build.build_model(cfg.model, num_classes=5)
    assert model.classifier.out_features == 5
    opt = build.build_optimizer(cfg.optim, model)
    lrs = sorted({g["lr"] for g in opt.param_groups})
    assert lrs == pytest.approx([0.01, 0.1])
    head = [g for g in opt.param_groups if g["lr"] == pytest.approx(0.1)][0]
    head_ids = {id(p) for p in head["params"]}
    assert id(model.classifier.weight) in head_ids and id(model.bottleneck.weight) in head_ids
    sched = build.build_schedule(cfg)
    assert sched(0) == 1.0 and sched(1) == pytest.approx(0.1)


def test_bad_model_arguments_are_config_errors_when_the_config_is_loaded():
    with pytest.raises(ConfigError, match=r"^<command line>: model\.args\.wings: unknown argument of DEEN"):
        load_config(CONFIGS / "test_tiny.yaml", ["model.args.wings=2"])
    with pytest.raises(ConfigError, match=r"^<command line>: model\.name: unknown model; expected one of"):
        load_config(CONFIGS / "test_tiny.yaml", ["model.name=resnext"])


def test_the_objective_carries_the_lambdas():
    cfg = load_config(CONFIGS / "deen_sysu.yaml", ["loss.cpm.weight=0.5"])
    model = build.build_model(load_config(CONFIGS / "test_tiny.yaml").model, 5)
    objective = build.build_objective(cfg.loss, model)
    weights = {t.name: w for w, t in zip(objective.weights, objective.terms, strict=True)}
    assert weights == {"id": 1.0, "tri": 1.0, "cpm": 0.5, "ort": 0.01}


def test_erasing_value_reaches_the_transform_and_is_checked():
    from vireid.data.transforms import TrainTransform

    cfg = load_config(CONFIGS / "agw_sysu.yaml")
    t = TrainTransform(**build.train_transform_kwargs(cfg.data))
    assert t.erasing_value == (0.0, 0.0, 0.0) and t.grayscale_p == 0.0
    assert TrainTransform(
        **build.train_transform_kwargs(load_config(CONFIGS / "deen_sysu.yaml").data)
    ).erasing_value == pytest.approx((0.485, 0.456, 0.406))
    with pytest.raises(ConfigError, match=r"data\.erasing_value: expected a list of 3"):
        load_config(CONFIGS / "agw_sysu.yaml", ["data.erasing_value=[0, 0]"])
