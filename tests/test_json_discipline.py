"""By construction: every JSON vireid reads goes through the one bounded decoder,
:func:`vireid.utils.jsonio.json_loads` (bad or deeply nested JSON is one line naming the file and
key, never a ``RecursionError``), read from the source itself.

* No module but ``utils/jsonio.py`` calls ``json.load`` / ``json.loads`` (under any import name),
  ``JSONDecoder`` or ``raw_decode``, except the few listed in :data:`OWN_TEXT`: each parses a string
  vireid built itself in the same function, never a file or metadata it read.
* ``synth.json`` is named only where it is read (``utils/paths.py``, :func:`~vireid.utils.paths.synth_meta`)
  and written (``data/synth/generator.py``): no module reads it on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vireid"
HELPER = "utils/jsonio.py"
DECODERS = {"load", "loads", "JSONDecoder", "raw_decode"}

#: (module, function) -> why its json.loads may bypass the helper: the text is vireid's own, built
#: in the same function (a decode of it cannot fail or nest deeper than what was just encoded)
OWN_TEXT = {
    ("report/group.py", "group_runs"): "decodes the row keys it json.dumps'ed itself (_row_key)",
    ("inference/loading.py", "inference_config"): "json.loads(json.dumps(kwargs)): a round trip to plain values",
    ("models/base.py", "declared_config"): "json.loads(json.dumps(checked)): a round trip to plain values",
    ("utils/io.py", "sorted_header"): "re-sorts the safetensors header safetensors.save just built from our tensors",
}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def json_decodes(tree: ast.AST) -> list[tuple[str, int]]:
    """``(enclosing function, line)`` of every JSON decode in ``tree``: ``json.loads(...)`` and
    ``json.load`` through any name ``json`` is imported as, ``from json import loads``, a
    ``JSONDecoder`` or ``raw_decode``."""
    modules = {"json"}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "json"}
        elif isinstance(node, ast.ImportFrom) and node.module == "json":
            names |= {a.asname or a.name for a in node.names if a.name in DECODERS}
    found = []

    def visit(node: ast.AST, func: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name
        if isinstance(node, ast.Attribute):  # json.loads, j.load, json.JSONDecoder, d.raw_decode
            own = isinstance(node.value, ast.Name) and node.value.id in modules  # not pickle.loads, torch.load
            if node.attr == "raw_decode" or (own and node.attr in DECODERS):
                found.append((func, node.lineno))
        elif isinstance(node, ast.Name) and node.id in names:  # from json import loads
            found.append((func, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, func)

    visit(tree, "<module>")
    return found


def test_the_walker_finds_every_spelling():
    src = """
import json
import json as j
from json import loads as L, JSONDecoder
import pickle, torch, yaml
def f(s):
    json.loads(s); j.load(s); L(s); JSONDecoder().raw_decode(s)
    pickle.loads(s); torch.load(s); yaml.load(s); json.dumps(s)
"""
    assert json_decodes(ast.parse(src)) == [("f", 7)] * 5


def test_every_json_read_goes_through_the_one_decoder():
    stray, used = [], set()
    for name, tree in _modules():
        if name == HELPER:
            assert json_decodes(tree), "the walker no longer sees the helper's own json.loads"
            continue
        for func, line in json_decodes(tree):
            if (name, func) in OWN_TEXT:
                used.add((name, func))
            else:
                stray.append(f"{name}:{line} (in {func})")
    assert not stray, (
        "decode JSON vireid reads with vireid.utils.jsonio.json_loads(text, where) -- it names the file and "
        f"bounds the nesting; or, for a string built in the same function, list it in OWN_TEXT: {stray}"
    )
    assert used == set(OWN_TEXT), f"OWN_TEXT lists functions that decode no JSON any more: {set(OWN_TEXT) - used}"


def test_synth_json_is_read_in_one_place():
    allowed = {"utils/paths.py", "data/synth/generator.py"}
    named = [
        name
        for name, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value == "synth.json" and name not in allowed
    ]
    assert not named, f"read synth.json with vireid.utils.paths.synth_meta, not on your own: {named}"
