"""The configs shipped with vireid (package data in ``vireid/configs/``), addressable by name.

Wherever a config is taken, ``deen_sysu`` (a shipped config's name, with or without
``.yaml``) and ``path/to/my.yaml`` (a file) both work; an existing file wins over a name.
A ``base:`` that is not found next to the file that names it is looked up among the
shipped configs too, so a user's config can start from ``base: deen_sysu.yaml``.
An installed plugin ships configs the same way (:func:`register_config_dir`); vireid's own names
come first.
"""

from __future__ import annotations

import os
from pathlib import Path

from vireid.core import plugins
from vireid.errors import ConfigError
from vireid.utils.paths import file_problem

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
_PLUGIN_DIRS: list[Path] = []


def register_config_dir(folder: str | os.PathLike) -> None:
    """Make the ``*.yaml`` configs of ``folder`` addressable by name (a plugin's configs)."""
    path = Path(folder).resolve()
    if not path.is_dir():
        raise ConfigError(f"{path}: a plugin's config folder must exist")
    if path not in _PLUGIN_DIRS:
        _PLUGIN_DIRS.append(path)


def shipped_configs() -> dict[str, Path]:
    """``{name: path}`` of every shipped config, sorted by name, then those of installed plugins."""
    plugins.load_entry_points()
    out = {p.stem: p for p in sorted(CONFIG_DIR.glob("*.yaml"))}
    for folder in _PLUGIN_DIRS:
        for p in sorted(folder.glob("*.yaml")):
            out.setdefault(p.stem, p)
    return out


def shipped_config(name: str) -> Path | None:
    """The shipped config called ``name`` (``"deen_sysu"`` or ``"deen_sysu.yaml"``), else ``None``."""
    if not name or os.sep in name or (os.altsep and os.altsep in name):
        return None
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    return shipped_configs().get(stem)


def resolve_config(name_or_path: str | os.PathLike) -> Path:
    """The config file meant by a path or a shipped config's name."""
    text = os.fspath(name_or_path)
    path = Path(os.path.expanduser(text))
    if path.is_file():
        return path
    found = shipped_config(text)
    if found is not None:
        return found
    if path.is_dir():
        raise ConfigError(f"{text}: is a folder; --config takes a YAML file or a shipped config's name")
    problem = file_problem(path, "config file")
    if os.path.lexists(path) and problem:  # a pipe, a device, a link to nothing
        raise ConfigError(f"{text}: {problem}")
    names = ", ".join(shipped_configs())
    raise ConfigError(
        f"{text}: config file not found, and no shipped config has that name (`vireid configs` lists them: {names})"
    )


def describe(path: str | os.PathLike) -> str:
    """The first comment line of a config file (its one-line description), or ``""``."""
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line.startswith("#"):
                    return line.lstrip("#").strip()
                if line:
                    return ""
    except (OSError, UnicodeDecodeError):
        return ""
    return ""


def list_configs() -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every shipped config."""
    return [(name, describe(path)) for name, path in shipped_configs().items()]
