import dataclasses
from pathlib import Path

import pytest

from vireid.config import (
    Config,
    apply_overrides,
    config_diff,
    dump_config,
    from_dict,
    load_config,
    parse_overrides,
    save_config,
    to_dict,
)
from vireid.config.shipped import CONFIG_DIR as CONFIGS
from vireid.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_base_inheritance_is_recursive_and_merges_mappings(tmp_path):
    write(tmp_path / "a.yaml", "train: {epochs: 3, seed: 7}\nmodel: {args: {variant: regdb, base_channels: 8}}\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "b.yaml", "base: ../a.yaml\ntrain: {epochs: 5}\n")
    write(tmp_path / "c.yaml", "base: sub/b.yaml\nmodel: {args: {base_channels: 16}}\noptim: {lr: 0.05}\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.train.epochs == 5 and cfg.train.seed == 7  # child wins, base kept
    assert cfg.model.args == {"variant": "regdb", "base_channels": 16}  # deep merge of dicts
    assert cfg.optim.lr == 0.05 and cfg.optim.momentum == 0.9  # schema default


def test_overrides_are_yaml_parsed(tmp_path):
    write(tmp_path / "a.yaml", "optim: {milestones: [20, 80]}\n")
    cfg = load_config(
        tmp_path / "a.yaml",
        [
            "optim.lr=1e-3",
            "optim.milestones=[5, 9]",
            "optim.grad_clip=null",
            "model.args.base_channels=8",
            "train.deterministic=true",
        ],
    )
    assert cfg.optim.lr == 0.001 and cfg.optim.milestones == (5, 9) and cfg.optim.grad_clip is None
    assert cfg.model.args == {"base_channels": 8} and cfg.train.deterministic is True


@pytest.mark.parametrize(
    "name",
    ["d\x7fata", "d\x1bata", "caf\udce9", "two\nlines", "cr\rhere", "tab\tbed"]
    + ["ends\n", "ends\r", "ends\t", "ends\x85", "a #hash", "two  spaces"],
    ids=["DEL", "ESC", "undecodable byte", "newline", "carriage return", "tab"]
    + ["newline at the end", "CR at the end", "tab at the end", "NEL at the end", "hash", "two spaces"],
)
def test_an_override_value_yaml_cannot_hold_or_would_change_means_itself(name, tmp_path):
    """A folder name Linux allows but YAML refuses (DEL, a control character, a byte the locale
    cannot decode) or folds (a line break became a space) is taken as the text typed, and a run's
    saved config reads it back the same."""
    root = f"{tmp_path}/{name}"
    cfg = load_config("test_tiny", [f"data.root={root}"])
    assert cfg.data.root == root
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml").data.root == root
    with pytest.raises(ConfigError, match=r"override 'data\.root=a\\x00b': value is not valid YAML"):
        load_config("test_tiny", ["data.root=a\x00b"])  # no file name holds a NUL byte
    yaml_still = load_config("test_tiny", ["optim.milestones=[5,\n 9]", "optim.gammas=[0.1, 0.1]"]).optim
    assert yaml_still.milestones == (5, 9) and yaml_still.gammas == (0.1, 0.1)


@pytest.mark.parametrize(
    ("raw", "value"),
    [(" /x/y ", "/x/y"), ('"/x/y\\n"', "/x/y\n"), ('"a #b"', "a #b"), ("!!str 5", "5"), ("5\n", 5), ("null", None)],
)
def test_an_override_keeps_what_yaml_says_where_it_is_asked_for(raw, value):
    """Spaces at the ends go, quoted values and YAML's explicit forms are YAML's, and a value that
    is not text (a number, null) is read as YAML reads it."""
    assert parse_overrides([f"a.b={raw}"]) == {"a": {"b": value}}


def test_cycle_is_detected(tmp_path):
    write(tmp_path / "a.yaml", "base: b.yaml\n")
    write(tmp_path / "b.yaml", "base: c.yaml\n")
    write(tmp_path / "c.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle") as info:
        load_config(tmp_path / "a.yaml")
    text = str(info.value)  # the chain names every file; the base: that closes it once
    assert text.count("(the base: of") == 1 and text.endswith(f"(the base: of {tmp_path / 'c.yaml'}:1)"), text


def test_unknown_key_names_file_and_line(tmp_path):
    p = write(tmp_path / "a.yaml", "train:\n  epochs: 3\n  epoch: 4\n")
    with pytest.raises(ConfigError, match=r"a\.yaml:3: unknown key 'train\.epoch'"):
        load_config(p)
    with pytest.raises(ConfigError, match=r"command line.*unknown key 'optim\.learning_rate'"):
        load_config(write(tmp_path / "ok.yaml", "{}\n"), ["optim.learning_rate=1"])


def test_wrong_types_and_bad_overrides(tmp_path):
    with pytest.raises(ConfigError, match=r"a\.yaml:2: train\.epochs: expected an integer"):
        load_config(write(tmp_path / "a.yaml", "train:\n  epochs: many\n"))
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(write(tmp_path / "b.yaml", "{}\n"), ["optim.lr"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path / "c.yaml", "train: 3\n"))


def test_config_is_frozen_and_round_trips(tmp_path):
    cfg = load_config(CONFIGS / "deen_sysu.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.epochs = 1  # type: ignore[misc]
    new = apply_overrides(cfg, ["train.epochs=2"])
    assert cfg.train.epochs == 151 and new.train.epochs == 2
    assert config_diff(cfg, new) == {"train.epochs": (151, 2)}
    save_config(new, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == new
    assert from_dict(to_dict(new)) == new


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_shipped_configs_load(name):
    cfg = load_config(CONFIGS / name)
    assert isinstance(cfg, Config) and dump_config(cfg)


def test_deen_recipe_values():
    cfg = load_config(CONFIGS / "deen_sysu.yaml")
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.backbone_lr_mult) == ("sgd", 0.1, 0.1)
    assert (cfg.optim.momentum, cfg.optim.nesterov, cfg.optim.weight_decay) == (0.9, True, 5e-4)
    assert (cfg.loss.cpm_weight, cfg.loss.ort_weight, cfg.loss.triplet_margin) == (0.8, 0.01, 0.3)
    assert (cfg.data.num_ids, cfg.data.num_pos, cfg.data.erasing_area) == (6, 4, (0.2, 0.8))
    assert load_config(CONFIGS / "deen_regdb.yaml", ["data.trial=3"]).data.trial == 3


def _bomb(levels: int = 9, refs: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * refs)}]")
    return "\n".join(lines) + f"\ntrain: {{epochs: 1}}\nmodel: {{args: {{layers: *a{levels - 1}}}}}\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("train:\n  epochs: 3\n  epochs: 4\n", r"a\.yaml:3: key 'train\.epochs' is given twice \(also on line 2\)"),
        ("train: {seed: 1}\ntrain: {seed: 2}\n", r"a\.yaml:2: key 'train' is given twice \(also on line 1\)"),
        (_bomb(), r"a\.yaml:\d+: not a readable YAML file \(more than 64 aliases\)"),
        (_bomb(4, 9), r"a\.yaml:\d+: more than 10000 values once aliases are expanded"),
        (
            "model:\n  args: " + "[" * 5000 + "]" * 5000 + "\n",
            r"a\.yaml:2: not a readable YAML file \(nested deeper than 32",
        ),
        ("train: &t [*t]\n", r"a\.yaml:1: a recursive alias"),
        ("base_: &b {epochs: 1}\ntrain:\n  <<: *b\n", r"a\.yaml:3: YAML merge keys \(<<\) are not supported"),
    ],
)
def test_the_yaml_reader_refuses_what_could_hang_or_crash_it(tmp_path, text, message):
    """Duplicate keys, alias bombs (9 levels x 9 references), deep nesting, recursive aliases: one line
    each, at once (no hang, no RecursionError)."""
    import time

    path = write(tmp_path / "a.yaml", text)
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert time.perf_counter() - start < 5 and "\n" not in str(info.value)
    from vireid.cli.main import main

    assert main(["configs", str(path)]) == 2


def test_overrides_are_read_with_the_same_limits():
    with pytest.raises(ConfigError, match="nested deeper than 32"):
        load_config("test_tiny", ["model.args.layers=" + "[" * 3000 + "]" * 3000])
    with pytest.raises(ConfigError, match="given twice"):
        load_config("test_tiny", ["model.args={a: 1, a: 2}"])


def test_a_folder_given_as_config_is_named_a_folder(tmp_path):
    (tmp_path / "some_dir").mkdir()
    for given in (tmp_path / "some_dir", f"{tmp_path / 'some_dir'}/"):
        with pytest.raises(ConfigError, match="is a folder; --config takes a YAML file"):
            load_config(given)


@pytest.mark.parametrize("tag", ["!!float abc", "!!int x", "!!timestamp 2020-99-99"])
def test_a_tag_the_value_does_not_fit_is_one_line(tag, tmp_path):
    """A YAML tag whose value it cannot hold (``!!float abc``) gave a ValueError traceback from
    PyYAML's constructor, in a file and in an override (found by the fuzzer)."""
    (tmp_path / "c.yaml").write_text(f"base: test_tiny.yaml\ntrain:\n  seed: {tag}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3: invalid YAML"):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="data.synth.foo"):
        load_config("test_tiny", [f"data.synth.foo={tag}"])


def test_an_error_in_a_base_names_every_file_whose_base_led_there(tmp_path):
    (tmp_path / "notes.txt").write_text("just text\n")
    (tmp_path / "a.yaml").write_text("base: notes.txt\n")
    (tmp_path / "b.yaml").write_text("# mine\nbase: a.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "b.yaml")
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'notes.txt'}: ") and "\n" not in text
    assert text.endswith(f"(the base: of {tmp_path / 'a.yaml'}:1) (the base: of {tmp_path / 'b.yaml'}:2)"), text


@pytest.mark.parametrize(
    "base,problem", [('""', "'base' is empty"), ("'  '", "'base' is empty"), ("sub", "is a folder")]
)
def test_an_empty_base_or_a_folder_is_named_as_such(base, problem, tmp_path):
    """``base: ""`` said ``base config <the folder> not found``: the folder exists; the value is empty."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "c.yaml").write_text(f"base: {base}\n")
    with pytest.raises(ConfigError, match=rf"c\.yaml:1: .*{problem}"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_a_config_file_with_no_settings_is_refused(tmp_path, text):
    """An empty file was read as every default (a ResNet-50 DEEN on SYSU-MM01 from ImageNet)."""
    path = write(tmp_path / "empty.yaml", text)
    with pytest.raises(ConfigError, match=r"empty\.yaml: holds no settings; .*`\{\}` to take every default"):
        load_config(path)
    assert load_config(write(tmp_path / "defaults.yaml", "{}\n")).train.epochs == 151


def test_epochs_are_bounded():
    with pytest.raises(ConfigError, match=r"train.epochs: must be >= 1 and <= 100000"):
        load_config(CONFIGS / "test_tiny.yaml", ["train.epochs=99999999999999999999999"])


def test_an_override_below_a_value_is_named_as_the_override():
    """``data.root.x=1`` was blamed on ``data.root`` ("expected a string, got {'x': 1}"); found by
    the fuzzer's long run."""
    with pytest.raises(ConfigError) as info:
        load_config(CONFIGS / "test_tiny.yaml", ["data.root.x=1"])
    assert str(info.value).startswith("<command line>: data.root.x: data.root is a value (")
    assert load_config(CONFIGS / "test_tiny.yaml", ["data.synth.num_ids=7"]).data.synth["num_ids"] == 7


def test_a_character_yaml_does_not_allow_is_one_line(tmp_path):
    """A NUL byte was refused by PyYAML's reader before the parser's handler (a traceback); found
    by the fuzzer's long run."""
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"\x00data: {}\n")
    with pytest.raises(ConfigError, match=r"nul\.yaml.*: not a readable YAML file \(unacceptable character #x0000"):
        load_config(path)


def test_an_override_below_a_key_that_takes_a_section_too_is_taken():
    """``model.args.vit`` is a size name or a section: ``model.args.vit.size=tiny`` is an override,
    not a key below a value (the first fix refused it; found by the GPU check's dry run)."""
    cfg = load_config("deen_vit_dee", ["model.args.vit.size=tiny"])
    assert cfg.model.args["vit"] == {"size": "tiny"}
