"""Plugins: the user's own modules that register datasets, models, objective terms, expansion modules
and protocols, so that vireid is extended without editing it.

A plugin is a module that registers with the registries where its classes are defined
(``@MODELS.register("toy")``, see ``docs/extending.md``).  vireid imports it in one of three ways:

* a config lists it (``imports: [my_lab.vireid_plugins]``): imported when the config is loaded;
* an installed package declares it under the entry point group ``vireid.plugins``
  (``[project.entry-points."vireid.plugins"] my_lab = "my_lab.vireid_plugins"``): every installed
  plugin is imported the first time a name is not found in a registry (``module:function`` entry
  points are imported, then the function is called);
* ``VIREID_PLUGINS=mod1,mod2`` in the environment, loaded with the installed ones.

A checkpoint records the plugins its model came from (:func:`require` imports them when it is
loaded, and one that cannot be imported is one line naming it).  What is imported is always an
installed module found on ``sys.path`` by name -- never code read from a config or checkpoint file --
and never a standard-library module (a file naming one is refused).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from importlib import metadata
from typing import Iterable

from vireid.errors import PluginError

GROUP = "vireid.plugins"
ENV = "VIREID_PLUGINS"
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

_loaded: dict[str, str] = {}  # plugin module -> where it was named
_stack: list[str] = []  # plugin modules being imported (what their registrations record)
_state = {"entry_points": False}


def registering(module: str | None) -> str | None:
    """The plugin a registration made now belongs to: the plugin module being imported, else the
    registering object's module when it is not vireid's own (``None``: vireid itself)."""
    if module == "vireid" or (module or "").startswith("vireid."):
        return None
    return _stack[-1] if _stack else module


def loaded() -> dict[str, str]:
    """``{plugin module: where it was named}`` of every plugin imported so far."""
    return dict(_loaded)


def import_plugin(name: str, source: str = "imports") -> None:
    """Import the plugin module ``name`` (once); ``source`` names where it was asked for."""
    if not isinstance(name, str) or not _MODULE.match(name):
        raise PluginError(f"{source}: {name!r} is not a module name (expected e.g. my_lab.vireid_plugins)")
    if name in _loaded:
        return
    top = name.split(".")[0]
    if top in sys.stdlib_module_names or top == "vireid":
        what = "part of vireid" if top == "vireid" else "a standard-library module"
        raise PluginError(f"{source}: {name!r} is {what}, not a plugin")
    _stack.append(name)
    try:
        importlib.import_module(name)
    except ImportError as exc:
        raise PluginError(f"{source}: plugin module {name!r} cannot be imported ({exc})") from None
    except (Exception, SystemExit) as exc:  # the plugin's own code failed (or exited) while importing
        raise PluginError(f"{source}: plugin module {name!r} failed while importing: {_failure(exc)}") from None
    finally:
        _stack.pop()
    _loaded[name] = source


def _failure(exc: BaseException) -> str:
    """``RuntimeError: boom (/lab/plugin.py:3)``: what a plugin raised, and where in its own code."""
    import traceback

    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not f.filename.startswith("<frozen") and f.filename != importlib.__file__]
    where = f" ({own[-1].filename}:{own[-1].lineno})" if own else ""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}){where}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}{': ' + text if text else ''}{where}"


def import_plugins(names: Iterable[str], source: str = "imports") -> None:
    for name in names:
        import_plugin(name, source)


def entry_point_modules() -> dict[str, str]:
    """``{module: entry point}`` of the installed plugins and those ``VIREID_PLUGINS`` names."""
    out: dict[str, str] = {}
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None)
        out[ep.value] = f"entry point {ep.name!r} of {dist or 'an installed package'} ({GROUP})"
    for name in filter(None, (s.strip() for s in os.environ.get(ENV, "").split(","))):
        out.setdefault(name, f"${ENV}")
    return out


def load_entry_points() -> None:
    """Import every installed plugin (entry point group ``vireid.plugins``) and ``$VIREID_PLUGINS``, once."""
    if _state["entry_points"]:
        return
    _state["entry_points"] = True
    for value, source in entry_point_modules().items():
        module, _, attr = value.partition(":")
        module = module.strip()
        import_plugin(module, source)
        if attr.strip():
            hook = getattr(sys.modules[module], attr.strip(), None)
            if not callable(hook):
                raise PluginError(f"{source}: {value!r} names no function {attr.strip()!r} in {module}")
            hook()


def is_loaded(module: str) -> bool:
    """Whether ``module`` is imported (as a plugin, or by the user's own code)."""
    return module in _loaded or module in sys.modules


def require(modules: Iterable[str], source: str, what: str = "its model") -> None:
    """Import the plugins a checkpoint recorded (installed ones, by name); one that cannot be imported
    is one :class:`PluginError` naming it and how to make it importable."""
    load_entry_points()
    for module in modules:
        if is_loaded(module):
            continue
        try:
            import_plugin(module, source)
        except PluginError as exc:
            if "cannot be imported" not in str(exc):
                raise
            raise PluginError(
                f"{source}: {what} comes from the plugin {module!r}, which cannot be imported; install the "
                f"package that provides it, or put it on PYTHONPATH"
            ) from None
