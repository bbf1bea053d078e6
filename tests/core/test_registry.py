"""core.registry and core.plugins: one decorator registry; plugins imported by name, recorded per entry."""

from __future__ import annotations

import sys

import pytest

from vireid.core import plugins
from vireid.core.registry import Registry
from vireid.errors import ConfigError, PluginError


def test_register_get_and_unknown_names():
    reg: Registry = Registry("gadget", lower=True)

    @reg.register("Blue", colour="blue")
    class Blue:
        pass

    assert reg.get("blue") is Blue and "BLUE" in reg and reg.where(colour="blue").obj is Blue
    assert reg.entry("blue").plugin == __name__  # registered outside vireid: its module is the plugin
    with pytest.raises(ConfigError, match=r"^unknown gadget 'red'; expected one of blue$"):
        reg.get("red")
    with pytest.raises(PluginError, match="already registered"):
        reg.add("blue", object())
    with pytest.raises(PluginError, match="must be an identifier"):
        reg.add("not a name", object())


def test_a_plugin_module_records_itself(tmp_path, monkeypatch):
    (tmp_path / "probe_plugin_mod.py").write_text(
        "from tests.core.test_registry import REG\n@REG.register('probe')\nclass Probe:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.import_plugin("probe_plugin_mod", "test")
    assert REG.entry("probe").plugin == "probe_plugin_mod" and plugins.loaded()["probe_plugin_mod"] == "test"
    sys.modules.pop("probe_plugin_mod")


REG: Registry = Registry("probe")


@pytest.mark.parametrize(
    "name, message",
    [
        ("no_such_module_xyz", "plugin module 'no_such_module_xyz' cannot be imported"),
        ("not a module", "is not a module name"),
    ],
)
def test_bad_plugins_are_one_line(name, message):
    with pytest.raises(PluginError, match=message):
        plugins.import_plugin(name, "cfg.yaml")


def test_require_names_a_missing_plugin():
    with pytest.raises(PluginError) as info:
        plugins.require(["my_lab_missing.plugins"], "ckpt.safetensors")
    text = str(info.value)
    assert text.startswith("ckpt.safetensors: its model comes from the plugin 'my_lab_missing.plugins'")
    assert "cannot be imported" in text and "\n" not in text
    with pytest.raises(PluginError, match="'antigravity' is a standard-library module, not a plugin"):
        plugins.require(["antigravity"], "ckpt.safetensors")


@pytest.mark.parametrize(
    "body, said",
    [
        ("x = 1\nraise RuntimeError('boom\\nsecond line')\n", "failed while importing: RuntimeError: boom second line"),
        ("import sys\nsys.exit(0)\n", "failed while importing: it called sys.exit(0)"),
        ("def f(:\n", "failed while importing: SyntaxError"),
        ("import no_such_dependency_xyz\n", "cannot be imported (No module named 'no_such_dependency_xyz')"),
    ],
)
def test_a_plugin_that_fails_while_importing_is_one_line_naming_its_file(body, said, tmp_path, monkeypatch):
    """A plugin's own exception (or ``sys.exit``) escaped as a traceback, or ended vireid with exit 0
    before the command ran; now a :class:`PluginError` naming the module, what it raised and where."""
    (tmp_path / "failing_plugin_mod.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        plugins.import_plugin("failing_plugin_mod", "cfg.yaml")
    text = str(info.value)
    assert text.startswith("cfg.yaml: plugin module 'failing_plugin_mod' ") and said in text and "\n" not in text
    if "failed" in said:
        assert str(tmp_path / "failing_plugin_mod.py") in text
    assert "failing_plugin_mod" not in plugins.loaded()
    sys.modules.pop("failing_plugin_mod", None)


@pytest.mark.parametrize(
    "value, said",
    [
        ("no_such_plugin_xyz", "plugin module 'no_such_plugin_xyz' cannot be imported"),
        ("failing_env_plugin", "plugin module 'failing_env_plugin' failed while importing: ValueError: bad"),
        ("os.path", "'os.path' is a standard-library module, not a plugin"),
        ("./relative", "'./relative' is not a module name"),
    ],
)
def test_a_bad_vireid_plugins_is_one_line_for_every_command(value, said, tmp_path, monkeypatch, capsys):
    """``$VIREID_PLUGINS`` is read while the parser is built (the registries' names): it failed
    there as a traceback, before any command's error handling."""
    from vireid.cli.main import COMMANDS, main

    (tmp_path / "failing_env_plugin.py").write_text("raise ValueError('bad')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(plugins.ENV, value)
    for argv in (["configs"], ["--help"], *([c, "--help"] for c in COMMANDS)):
        monkeypatch.setitem(plugins._state, "entry_points", False)
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"vireid: error: $VIREID_PLUGINS: {said}" + err[0].split(said, 1)[-1]], (argv, err)
    sys.modules.pop("failing_env_plugin", None)
