"""config.validate: every key checked when a config is loaded, from where it is declared -- one line
naming the file and line (or the command line), the key, the value and what is allowed.

Generated inputs (hypothesis) cover every key of the schema, every registered model's declared
arguments and every objective term's keywords, so a new key is covered without a new test."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vireid.config import apply_overrides, load_config, to_dict
from vireid.config.schema import DataConfig, EvalConfig, ModelConfig, OptimConfig, TrainConfig
from vireid.config.shipped import shipped_configs
from vireid.config.validate import MEMORY_CEILING, memory_estimate
from vireid.core.checks import check_value
from vireid.core.params import NON_NEGATIVE, dataclass_params
from vireid.errors import ConfigError
from vireid.models.registry import MODELS
from vireid.objective.terms import TERMS

TINY = load_config("test_tiny")
FEW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.one_of(st.integers(-5, 100), st.floats(-1, 2), st.text(max_size=3)), max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), max_size=2),
)


def _override(key: str, value) -> str:
    return f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"


def _one_line(exc: ConfigError, key: str, cross: bool = False) -> None:
    """One line from the command line naming ``key`` (``cross``: or a cross-field rule that names it, or
    the memory estimate a valid size can exceed)."""
    text = str(exc)
    named = key.split("[")[0] in text or (cross and "needs about" in text)
    assert "\n" not in text and text.startswith("<command line>: ") and named, text


def test_every_shipped_config_is_valid():
    for path in shipped_configs().values():
        cfg = load_config(path)
        assert memory_estimate(cfg)[0] < MEMORY_CEILING


STATIC = [
    (f"{name}.{f.name}", f.name, cls)
    for name, cls in (("data", DataConfig), ("model", ModelConfig), ("optim", OptimConfig))
    + (("train", TrainConfig), ("eval", EvalConfig))
    for f in dataclasses.fields(cls)
    if f.name not in ("options", "args", "synth")
]


@pytest.mark.parametrize("key, field, cls", STATIC, ids=[s[0] for s in STATIC])
@FEW
@given(value=VALUES)
def test_every_schema_key_accepts_what_it_declares_and_names_the_rest(key, field, cls, value):
    """A generated value is accepted exactly when it fits the key's declaration (then it is what the
    config holds), else one line names the key; nothing else is raised."""
    annotation = dataclass_params(cls).params[field].annotation
    try:
        expected = check_value(value, annotation, key)
    except ConfigError:
        expected = ConfigError
    try:
        cfg = apply_overrides(TINY, [_override(key, value)])
    except ConfigError as exc:
        _one_line(exc, key, cross=expected is not ConfigError)
        return
    assert expected is not ConfigError, (key, value)
    got = getattr(getattr(cfg, key.split(".")[0]), field)
    if field == "erasing_area" and value is None:  # null: the dataset's recipe
        assert got == (0.2, 0.8)
    elif isinstance(expected, float) and math.isnan(expected):  # pragma: no cover - nan is never allowed
        raise AssertionError
    elif key != "data.dataset":
        assert got == expected


@pytest.mark.parametrize("model", MODELS.names())  # every registered model, a new one included
@FEW
@given(data=st.data())
def test_every_model_argument_is_checked_against_its_declaration(model, data):
    from vireid.models.registry import model_spec

    params = [p for p in model_spec(model).params if p.name != "num_classes"]
    p = data.draw(st.sampled_from(params))
    value = data.draw(VALUES)
    try:
        check_value(value, p.annotation, f"model.args.{p.name}")
        ok = True
    except ConfigError:
        ok = False
    try:
        cfg = apply_overrides(
            TINY, [f"model.name={model}", "model.args=null", _override(f"model.args.{p.name}", value)]
        )
    except ConfigError as exc:
        _one_line(exc, f"model.args.{p.name}", cross=ok)
        return
    assert ok and p.name in cfg.model.args


@FEW
@given(data=st.data())
def test_every_objective_term_keyword_is_checked(data):
    name = data.draw(st.sampled_from(TERMS.names()))
    params = list(TERMS.get(name).config_params()) + [None]
    p = data.draw(st.sampled_from(params))
    key = f"loss.{name}.{p.name if p else 'weight'}"
    value = data.draw(VALUES)
    annotation = p.annotation if p else typing.Annotated[float, NON_NEGATIVE]
    try:
        expected = check_value(value, annotation, key)
    except ConfigError:
        with pytest.raises(ConfigError) as info:
            apply_overrides(TINY, [_override(key, value)])
        _one_line(info.value, key)
        return
    cfg = apply_overrides(TINY, [_override(key, value)])
    assert cfg.loss.terms[name][p.name if p else "weight"] == expected


@pytest.mark.parametrize(
    "override, message",
    [  # the cases of issue 24, each one line naming the key, the value and what is allowed
        ("train.seed=-1", "train.seed: must be >= 0 and < 2^63, got -1"),
        ("train.seed=1180591620717411303424", "train.seed: must be >= 0 and < 2^63"),
        ("optim.betas=[0.9]", "optim.betas: expected a list of 2 (a number, a number), got [0.9]"),
        ("optim.milestones=[5,1]", "optim.milestones: must be in strictly ascending order, got [5, 1]"),
        ("optim.milestones=[5,9,12]", "optim.milestones [5, 9, 12] and optim.gammas [0.1] must have the same length"),
        ("data.erasing_area=[0.9,0.1]", "data.erasing_area: must be in ascending order, got [0.9, 0.1]"),
        ("data.erasing_area=[0,0.5]", "data.erasing_area: must be > 0 and <= 1 (every item), got [0, 0.5]"),
        ("data.erasing_area=[0.2,3]", "data.erasing_area: must be > 0 and <= 1 (every item)"),
        ("data.channel_aug=foo", "data.channel_aug: expected one of exchange, adapt_gray or null, got 'foo'"),
        ("eval.metric=foo", "eval.metric: expected one of rank1, rank5, rank10, rank20, mAP, mINP, got 'foo'"),
        ("data.synth.difficulty=abc", "data.synth.difficulty: expected a number, got 'abc'"),
        ("data.synth.foo=1", "data.synth.foo: unknown argument of the synthetic generator; expected one of: num_ids"),
        ("model.args.base_channels=abc", "model.args.base_channels: expected an integer, got 'abc'"),
        ("optim.lr=-1", "optim.lr: must be > 0, got -1"),
        ("optim.lr=.nan", "optim.lr: must be > 0, got nan"),
        ("train.epochs=0", "train.epochs: must be >= 1 and <= 100000, got 0"),
        ("train.amp=fp8", "train.amp: expected one of none, auto, bf16, fp16, got 'fp8'"),
        ("loss.infonce.temperature=0", "loss.infonce.temperature: must be > 0, got 0"),
        ("loss.cpm.margni=1", "loss.cpm.margni: unknown argument of CPMTerm; expected one of: margin, normalize"),
        ("loss.tripplet.weight=1", "loss.tripplet: unknown objective term; expected one of id, triplet, cpm"),
        ("data.mode=indoor", "unknown key 'data.mode'; expected one of: dataset, root"),
        ("model.args.num_classes=3", "model.args.num_classes is set from the dataset; remove it"),
        ("imports=[no_such_plugin_module]", "imports: plugin module 'no_such_plugin_module' cannot be imported"),
        # an empty path was read as the current folder ("data.root=" -> ".: exists, is not empty ...")
        ("data.root=", "data.root: must be a path or name, not empty, got ''"),
        ("data.root=' '", "data.root: must be a path or name, not empty, got ' '"),
        ("model.pretrained=", "model.pretrained: must be a path or name, not empty, got ''"),
        ("train.init_from=", "train.init_from: must be a path or name, not empty, got ''"),
    ],
)
def test_the_issue_cases_are_one_line(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(
            "test_tiny", [override, "data.dataset=regdb", "data.root=x"] if "data.mode" in override else [override]
        )
    text = str(info.value)
    assert text.startswith("<command line>: ") and message in text and "\n" not in text, text


@pytest.mark.parametrize(
    "override, key",
    [
        ("data.num_pos=100000000", "data.num_pos"),
        ("data.height=20000", "data.height"),
        ("data.test_batch_size=10**9", ""),
    ],
)
def test_sizes_beyond_the_memory_estimate_are_refused_with_it(override, key):
    override = override.replace("10**9", str(10**9))
    with pytest.raises(ConfigError) as info:
        load_config("deen_sysu", [override])
    text = str(info.value)
    assert text.startswith("<command line>: ") and "needs about" in text and "vireid allows up to 256 GiB" in text
    assert "\n" not in text


@pytest.mark.parametrize("model", ["deen", "agw"])
@pytest.mark.parametrize("size", ["data.height=8", "data.width=15"])
def test_images_smaller_than_the_model_takes_are_refused(model, size):
    """A size the model's strides cannot take was found only in the first forward pass, naming an
    internal tensor (``x_vis: image size (8, 16) is too small``; found by the fuzzer)."""
    with pytest.raises(ConfigError) as info:
        load_config("test_tiny", [f"model.name={model}", "model.args={}", size])
    text = str(info.value)
    assert text.startswith("<command line>: data.height x data.width = ") and "at least 16x16" in text, text


def test_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: test_tiny\ntrain:\n  threads: 1\n  epochs: 0\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:4: train\.epochs: must be >= 1 and <= 100000, got 0"):
        load_config(bad)
    bad.write_text("base: test_tiny\nmodel:\n  args: {base_channels: x}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:3: model\.args\.base_channels: expected an integer, got 'x'"):
        load_config(bad)


def test_null_switches_a_free_form_section_off():
    cfg = load_config("test_tiny", ["data.synth=null"])
    assert cfg.data.synth == {} and load_config("test_tiny").data.synth
    assert apply_overrides(load_config("test_tiny"), ["data.synth=null"]).data.synth == {}


def test_dataset_options_live_in_the_data_section():
    regdb = load_config("deen_regdb", ["data.trial=3"])
    assert regdb.data.trial == 3 and regdb.data.options == {"trial": 3} and to_dict(regdb)["data"]["trial"] == 3
    with pytest.raises(ConfigError, match=r"data\.trial: must be >= 1 and <= 10, got 11"):
        load_config("deen_regdb", ["data.trial=11"])
    sysu = load_config("deen_sysu", ["data.mode=indoor"])
    assert (sysu.data.mode, sysu.data.shot) == ("indoor", "single")
    with pytest.raises(ConfigError, match="data.mode: expected one of all, indoor, got 'outdoor'"):
        load_config("deen_sysu", ["data.mode=outdoor"])


def test_old_configs_keep_loading_with_a_note(tmp_path):
    """A run folder's config.yaml written by vireid 0.1: flat loss keys and every dataset's options."""
    old = to_dict(load_config("test_tiny"))
    old["loss"] = {"id_weight": 1.0, "triplet": "none", "triplet_weight": 3.0, "cpm_weight": 2.4, "aux_weights": {}}
    old["data"].update({"trial": 1, "mode": "all", "shot": "single"})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old))
    with pytest.warns(
        UserWarning,
        match=r"vireid 0\.1 loss keys read as today's \(loss\.aux_weights, loss\.cpm_weight, loss\.id_weight",
    ):
        cfg = load_config(path)
    assert cfg.loss.terms["triplet"]["weight"] == 0.0 and cfg.loss.terms["cpm"]["weight"] == 2.4
    assert cfg.loss.triplet == "none" and cfg.loss.cpm_weight == 2.4 and "trial" not in cfg.data.options


def test_a_refused_config_prints_its_error_alone(tmp_path):
    """The note on vireid 0.1 keys comes once the config is valid: a refused one is one line, its
    error (found by the fuzzer: loss.aux_weights.foo='' gave the note, then the error)."""
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match="loss.ort.weights.foo: expected a number"):
            load_config("test_tiny", ["loss.aux_weights.foo="])
    assert seen == []
    with pytest.warns(UserWarning, match="vireid 0.1 loss keys") as noted:
        load_config("test_tiny", ["loss.aux_weights={}", "loss.cpm_weight=1"])
    assert len(noted) == 1
