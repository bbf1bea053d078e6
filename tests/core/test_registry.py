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
