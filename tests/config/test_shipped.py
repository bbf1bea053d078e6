"""Shipped configs: addressable by name or path everywhere, listed by `vireid configs`.

Their installation as package data is checked by tests/test_packaging.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vireid.cli.main import main
from vireid.config import load_config
from vireid.config.shipped import CONFIG_DIR, describe, list_configs, resolve_config, shipped_configs
from vireid.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_names_and_paths_resolve(tmp_path, monkeypatch):
    assert resolve_config("deen_sysu") == resolve_config("deen_sysu.yaml") == CONFIG_DIR / "deen_sysu.yaml"
    assert resolve_config(CONFIG_DIR / "synthetic.yaml") == CONFIG_DIR / "synthetic.yaml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deen_sysu.yaml").write_text("train: {epochs: 3}\n")  # an existing file wins over a name
    assert load_config("deen_sysu.yaml").train.epochs == 3
    assert load_config("deen_sysu").train.epochs == load_config(CONFIG_DIR / "deen_sysu.yaml").train.epochs != 3
    with pytest.raises(ConfigError, match=r"nope: config file not found.*vireid configs.*deen_sysu"):
        resolve_config("nope")
    with pytest.raises(ConfigError, match="not found"):
        resolve_config("sub/deen_sysu.yaml")  # a path with a folder is never a name


def test_user_config_inherits_a_shipped_config_by_name(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: deen_sysu.yaml\ntrain: {epochs: 3}\n")
    (tmp_path / "short.yaml").write_text("base: synthetic\n")
    mine, ref = load_config(tmp_path / "mine.yaml"), load_config("deen_sysu")
    assert mine.train.epochs == 3 and mine.data == ref.data and mine.model == ref.model
    assert load_config(tmp_path / "short.yaml") == load_config("synthetic")
    (tmp_path / "bad.yaml").write_text("base: no_such_config.yaml\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:1: .*no_such_config\.yaml: base config not found"):
        load_config(tmp_path / "bad.yaml")


def test_configs_command_lists_every_shipped_config(capsys):
    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(shipped_configs()) and len(lines) >= 15
    row = next(line for line in lines if line.startswith("deen_llcm "))
    assert row.split(None, 1)[1] == "DEEN on LLCM (both directions, 10 trials)."
    assert dict(list_configs())["test_tiny"] == describe(CONFIG_DIR / "test_tiny.yaml") != ""
    assert main(["configs", "--paths"]) == 0
    assert str(CONFIG_DIR / "base.yaml") in capsys.readouterr().out


def test_repository_configs_folder_is_the_package_data():
    link = REPO / "configs"
    if not link.exists():
        pytest.skip("not run from a repository checkout")
    assert link.is_symlink() and link.resolve() == CONFIG_DIR.resolve()


@pytest.mark.parametrize("name", list(shipped_configs()))
def test_configs_command_resolves_every_shipped_config(name, capsys):
    assert main(["configs", name]) == 0
    assert load_config(name) == load_config(CONFIG_DIR / f"{name}.yaml")
    assert "model:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("override", "named"),
    [("loss.aux_weights.foo=1", "loss.ort.weights: foo"), ("optim.head_modules=[nope]", "optim.head_modules: nope")],
)
def test_configs_command_refuses_what_only_the_model_can_judge(override, named, capsys):
    """What ``vireid train`` would refuse on the model, ``vireid configs`` refuses too, in one line
    (the note about vireid 0.1's key is dropped with the refusal)."""
    assert main(["configs", "test_tiny", override]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err, err
