"""config.ranges: values out of range are a one-line ConfigError at load time, naming file and line."""

import pytest

from vireid.config import apply_overrides, load_config
from vireid.config.shipped import shipped_configs
from vireid.errors import ConfigError


def test_every_shipped_config_is_in_range():
    for path in shipped_configs().values():
        load_config(path)


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lr=-1", "optim.lr: must be > 0, got -1.0"),
        ("optim.lr=0", "optim.lr: must be > 0"),
        ("train.epochs=0", "train.epochs: must be >= 1, got 0"),
        ("data.num_ids=0", "data.num_ids: must be >= 1"),
        ("data.test_batch_size=-4", "data.test_batch_size: must be >= 1"),
        ("data.erasing_p=1.5", "data.erasing_p: must be >= 0 and <= 1"),
        ("data.erasing_area=[0.2,3]", "data.erasing_area: must be >= 0 and <= 1 (every item)"),
        ("optim.momentum=1", "optim.momentum: must be >= 0 and < 1"),
        ("loss.infonce_temperature=0", "loss.infonce_temperature: must be > 0"),
        ("train.amp=fp8", "train.amp: expected one of none, auto, bf16, fp16, got 'fp8'"),
        ("optim.lr=.nan", "optim.lr: must be > 0"),
        ("eval.trials=0", "eval.trials: must be >= 1"),
    ],
)
def test_out_of_range_overrides(override, message):
    with pytest.raises(ConfigError) as info:
        load_config("test_tiny", [override])
    assert str(info.value) == f"<command line>: {message}" or message in str(info.value)
    assert "\n" not in str(info.value)


def test_the_file_and_line_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: test_tiny\ntrain:\n  threads: 1\n  epochs: 0\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:4: train\.epochs: must be >= 1, got 0"):
        load_config(bad)


def test_null_switches_a_free_form_section_off():
    cfg = load_config("test_tiny", ["data.synth=null"])
    assert cfg.data.synth == {} and load_config("test_tiny").data.synth
    assert apply_overrides(load_config("test_tiny"), ["data.synth=null"]).data.synth == {}
