"""Layers import only downwards: the one declaration of vireid's layer order, and its check.

Every module under ``src/vireid`` is parsed (:mod:`ast`), and every ``import`` / ``from ... import``
in it -- at the top, inside functions and under ``TYPE_CHECKING`` alike, relative ones resolved --
must name its own package or a package of a lower layer.  There is no list of exceptions: an upward
import fails this test.  A new package must be given a layer here.  ``docs/architecture.md`` draws
the same order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "vireid"

#: lowest first; a package may import packages of lower layers only (never one of its own layer)
LAYERS: list[tuple[str, ...]] = [
    ("errors", "version"),
    ("modality", "utils"),
    ("core",),  # declared parameters, registries, plugins, device, distributed, checkpoint paths
    ("evaluation", "losses", "optim"),
    ("data", "models", "search"),
    ("objective", "export", "viz"),
    ("config",),
    ("inference",),
    ("engine", "report"),  # report: runs -> a paper's tables and figures (reads files; trains nothing)
    ("cli",),
    ("__main__", "__init__"),  # the console entry and the package's lazy load_model
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def _package(module: str) -> str:
    """``vireid.models.deen`` -> ``models``; ``vireid`` itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1] if len(parts) > 1 else parts
    return ".".join(parts)


def _imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """``(line, imported module)`` of every import statement of a file (its ``text``), relative ones resolved."""
    tree = ast.parse(path.read_text() if text is None else text, filename=str(path))
    here = _module_name(path).split(".")
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # "from vireid import engine" imports a package by name
            if mod == "vireid":
                out += [
                    (node.lineno, f"vireid.{a.name}")
                    for a in node.names
                    if (SRC / a.name).is_dir() or (SRC / f"{a.name}.py").is_file()
                ]
    return [(line, m) for line, m in out if m == "vireid" or m.startswith("vireid.")]


MODULES = sorted(SRC.rglob("*.py"))


def test_every_package_has_a_layer():
    packages = {_package(_module_name(p)) for p in MODULES}
    assert packages - set(RANK) == set(), "give the new package a layer in tests/test_layers.py"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_downwards(path):
    own = _package(_module_name(path))
    bad = []
    for line, mod in _imports(path):
        target = _package(mod)
        if target == own or mod == "vireid" and own == "__init__":
            continue
        if mod == "vireid":
            target = "__init__"
        if RANK[target] >= RANK[own]:
            bad.append(f"{path.relative_to(SRC)}:{line} imports {mod} (layer {RANK[target]} >= {own}'s {RANK[own]})")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_imports_inside_functions():
    """The parser finds a function-level import and resolves a relative one."""
    text = "def f():\n    from vireid.engine import run\n    from ..config import build\n    import vireid.cli.main\n"
    found = [m for _, m in _imports(SRC / "data" / "probe.py", text)]
    assert found == ["vireid.engine", "vireid.config", "vireid.cli.main"]
