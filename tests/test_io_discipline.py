"""By construction: every file vireid writes goes through the output policy, every text file is
read and written as UTF-8 (whatever the locale), read from the source itself.

* A call of a writer of :mod:`vireid.utils.io` names its kind (``kind=``), which the policy checks.
* No module writes, moves or deletes files by itself (``open(..., "w")``, ``write_text``,
  ``torch.save``, ``savefig``, ``shutil.rmtree``, ``os.replace``, ``unlink`` ...), except the few
  listed below, each with the reason it may.
* ``open`` in text mode, ``read_text`` and ``write_text`` always pass ``encoding=``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vireid"
WRITERS = {
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "save_safetensors",
}
RAW = {
    "write_text",
    "write_bytes",
    "savefig",
    "rmtree",
    "replace",
    "rename",
    "unlink",
    "remove",
    "rmdir",
    "save",
    "touch",
}
#: module -> raw file operations it may do, and why
ALLOWED = {
    "utils/io.py": "the writers themselves (temporary file + rename)",
    "utils/outputs.py": "remove_owned / staging_dir: the policy's own folder operations",
    "search/folder.py": "swaps a staged index folder into place; removes its staging folders and the index's own files",
    "data/synth/generator.py": "renders images into its private staging folder, renamed into place as a whole",
    "models/pretrained.py": "downloads into torch.hub's cache under a temporary name, renamed when its hash checks",
    "engine/logging.py": "appends records to metrics.jsonl, started through the policy",
    "engine/undo.py": "a train / ablate that failed before doing anything removes what it made: the new files "
    "it names as its own (lock, config), only when nothing else is new, and the folders it made, once empty",
    "viz/style.py": "savefig into memory; the bytes go through atomic_write_bytes",
    "report/build.py": "removes the pictures an earlier report drew (listed in its results.json, marked as vireid's) "
    "in formats not drawn again",
}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            yield name, node


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def writers_without_kind(tree: ast.AST) -> list[int]:
    return [n.lineno for name, n in _calls(tree) if name in WRITERS and not any(k.arg == "kind" for k in n.keywords)]


def raw_writes(tree: ast.AST) -> list[int]:
    out = []
    for name, node in _calls(tree):
        mode = _mode(node) if name == "open" else None
        if (name in RAW and not _is_str_method(node)) or (mode is not None and any(c in mode for c in "wax+")):
            out.append(node.lineno)
    return out


def unencoded_text(tree: ast.AST) -> list[int]:
    out = []
    for name, node in _calls(tree):
        if any(k.arg == "encoding" for k in node.keywords):
            continue
        if name in ("read_text", "write_text"):
            out.append(node.lineno)
        elif name == "open" and isinstance(node.func, ast.Name) and _mode(node) is not None and "b" not in _mode(node):
            out.append(node.lineno)
    return out


BAD = """
from vireid.utils.io import atomic_write_json
atomic_write_json(p, {})
open(p, "w").write("x")
shutil.rmtree(d)
Path(p).read_text()
"""


def test_the_checks_find_what_they_look_for():
    tree = ast.parse(BAD)
    assert writers_without_kind(tree) == [3]
    assert sorted(raw_writes(tree)) == [4, 5]
    assert sorted(unencoded_text(tree)) == [4, 6]


def test_every_writer_call_names_its_kind():
    missing = [
        f"{rel}:{line}" for rel, tree in _modules() if rel != "utils/io.py" for line in writers_without_kind(tree)
    ]
    assert missing == [], "a writer without kind= bypasses the output policy"


def test_no_module_writes_files_by_itself():
    found, used = [], set()
    for rel, tree in _modules():
        lines = raw_writes(tree)
        if lines and rel in ALLOWED:
            used.add(rel)
        elif lines:
            found += [f"{rel}:{line}" for line in lines]
    assert found == [], "write through vireid.utils.io (the output policy), or list the module in ALLOWED with why"
    assert used == set(ALLOWED), f"no longer needed in ALLOWED: {sorted(set(ALLOWED) - used)}"


def _is_str_method(node: ast.Call) -> bool:
    """``"a".replace(...)``, ``s.replace(...)`` with string arguments: not a file operation."""
    f = node.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "dataclasses":
        return True
    if isinstance(f, ast.Attribute) and f.attr == "replace":
        return all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:2]) or (
            isinstance(f.value, ast.Constant)
        )
    if isinstance(f, ast.Attribute) and f.attr in ("save", "remove"):  # list.remove, a model's own .save(path)
        return not (isinstance(f.value, ast.Name) and f.value.id in ("os", "torch", "np", "shutil"))
    return False


def _mode(node: ast.Call) -> str | None:
    for k in node.keywords:
        if k.arg == "mode" and isinstance(k.value, ast.Constant):
            return k.value.value
    if len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
        return node.args[1].value
    return "r" if node.args else None


def test_text_files_are_always_utf8():
    found = [f"{rel}:{line}" for rel, tree in _modules() for line in unencoded_text(tree)]
    assert found == [], "pass encoding='utf-8': under LC_ALL=C the default is ASCII"
