"""YAML config files with ``base:`` inheritance and dotted command-line overrides.

* ``base: other.yaml`` (path relative to the file, else a shipped config's name, see
  :mod:`vireid.config.shipped`) is loaded first, recursively; mappings are merged key by
  key, everything else is replaced.  A cycle is an error.
* Overrides ``section.key=value`` (value parsed as YAML, so ``1e-3``, ``[20, 80]``,
  ``null`` and ``true`` work) apply after the files.
* The merged tree is checked by :mod:`vireid.config.validate` (every key against its declaration);
  an error names the file and line where the key was set, or the command line.
* The YAML reader refuses what a file could use to hang or crash the loader: a key given twice in
  one mapping, more than :data:`MAX_ALIASES` aliases or :data:`MAX_VALUES` values once aliases are
  expanded (the "billion laughs"), nesting deeper than :data:`MAX_DEPTH`, a recursive alias, YAML
  merge keys, and files over :data:`MAX_BYTES` -- one line each.  PyYAML's SafeLoader builds the
  scalars; the structure is walked here, within those limits.
* Keys of vireid 0.1 (flat ``loss.cpm_weight``) are read as today's, with a note
  (:mod:`vireid.config.legacy`).
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml

from vireid.config.legacy import note as legacy_note
from vireid.config.legacy import translate
from vireid.config.schema import Config
from vireid.config.shipped import resolve_config, shipped_config
from vireid.config.validate import to_dict, validate
from vireid.core import plugins
from vireid.errors import ConfigError, VireidWarning, format_location
from vireid.utils.io import atomic_write_text
from vireid.utils.paths import file_problem

CLI = "<command line>"
#: a character YAML's reader refuses (DEL, C0/C1 controls, a file name's undecodable bytes as
#: surrogates): an override value holding one cannot be YAML, only the text itself -- a file name
NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_BYTES = 1 << 20  # a config is a few KiB
MAX_DEPTH = 32  # mappings and lists nested
MAX_ALIASES = 64  # *alias references in one file
MAX_VALUES = 10_000  # values once aliases are expanded (a config holds a few hundred)


class _YAMLLimit(Exception):
    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting and many aliases before recursing into them."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):  # noqa: ANN001  (PyYAML's signature)
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _YAMLLimit(self.peek_event().start_mark.line + 1, f"more than {MAX_ALIASES} aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _YAMLLimit(self.peek_event().start_mark.line + 1, f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def yaml_problem(exc: BaseException) -> tuple[int | None, str]:
    """``(line, one-line reason)`` of a YAML error (PyYAML's own message spans several lines)."""
    if isinstance(exc, _YAMLLimit):
        return exc.line, exc.reason
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    text = f"{context}: {reason}" if context else str(reason)
    return (mark.line + 1 if mark is not None else None), " ".join(text.split())


def parse_yaml(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """``(value, {dotted key: line})`` of a YAML document, within the limits of the module docstring."""
    loader = None
    try:
        loader = _Loader(text)  # its reader refuses a character YAML does not allow (a NUL byte) here
        node = loader.get_single_node()
    except (yaml.YAMLError, _YAMLLimit) as exc:
        line, reason = yaml_problem(exc)
        raise ConfigError(f"{format_location(source, line)}: not a readable YAML file ({reason})") from None
    except RecursionError:  # pragma: no cover - the depth limit comes first
        raise ConfigError(f"{source}: not a readable YAML file (nested too deeply)") from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, {}
    lines: dict[str, int] = {}
    count = [0]

    def walk(n: yaml.Node, prefix: str, path: tuple[int, ...]) -> Any:
        line = n.start_mark.line + 1
        count[0] += 1
        if count[0] > MAX_VALUES:
            raise ConfigError(
                f"{format_location(source, line)}: more than {MAX_VALUES} values once aliases are expanded"
            )
        if id(n) in path:
            raise ConfigError(f"{format_location(source, line)}: a recursive alias (a value that contains itself)")
        if len(path) > MAX_DEPTH:
            raise ConfigError(f"{format_location(source, line)}: nested deeper than {MAX_DEPTH} levels")
        inner = (*path, id(n))
        if isinstance(n, yaml.MappingNode):
            out: dict = {}
            for k, v in n.value:
                if k.tag == "tag:yaml.org,2002:merge":
                    raise ConfigError(
                        f"{format_location(source, k.start_mark.line + 1)}: YAML merge keys (<<) are not "
                        "supported in vireid configs; write the keys out (or use base:)"
                    )
                key = walk(k, "", inner) if not isinstance(k, yaml.ScalarNode) else loader.construct_object(k)
                if not isinstance(key, str):
                    raise ConfigError(f"{format_location(source, k.start_mark.line + 1)}: key {key!r} is not a string")
                dotted = f"{prefix}{key}"
                if key in out:
                    raise ConfigError(
                        f"{format_location(source, k.start_mark.line + 1)}: key '{dotted}' is given twice "
                        f"(also on line {lines.get(dotted, '?')}); give each key once"
                    )
                lines[dotted] = k.start_mark.line + 1
                out[key] = walk(v, dotted + ".", inner)
            return out
        if isinstance(n, yaml.SequenceNode):
            return [walk(v, prefix, inner) for v in n.value]
        try:
            return loader.construct_object(n)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{format_location(source, line)}: invalid YAML ({yaml_problem(exc)[1]})") from None
        except (ValueError, TypeError, OverflowError) as exc:  # a tag the value does not fit: !!float abc
            where = format_location(source, n.start_mark.line + 1)
            raise ConfigError(f"{where}: invalid YAML ({n.tag.rsplit(':', 1)[-1]} {n.value!r}: {exc})") from None

    return walk(node, "", ()), lines


def _read_yaml(path: Path) -> tuple[dict, dict[str, int]]:
    """Parse a YAML mapping; returns (data, {dotted key: line number})."""
    problem = file_problem(path, "config file")
    if problem:
        hint = " (expected a .yaml file or a shipped config's name)" if path.is_dir() else ""
        raise ConfigError(f"{path}: {problem}{hint}")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(
                f"{path}: not a readable YAML file ({path.stat().st_size} bytes: a config holds at most {MAX_BYTES})"
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a readable YAML file (not UTF-8 text: is it a config?)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    data, lines = parse_yaml(text, str(path))
    if data is None:  # an empty file, or comments only: more likely a mistake than "all defaults"
        raise ConfigError(
            f"{path}: holds no settings; a config names what it changes from the defaults "
            "(`base: NAME` to start from a shipped config, or `{}` to take every default)"
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data, lines


def _merge(base: dict, top: Mapping) -> dict:
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _translated(tree: dict, locations: dict[str, str], source: str) -> dict:
    out, found = translate(tree, locations)
    if found:
        warnings.warn(legacy_note(source, found), VireidWarning, stacklevel=4)
    return out


def _load_tree(path: Path, stack: tuple[Path, ...]) -> tuple[dict, dict[str, str]]:
    path = path.resolve()
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise ConfigError(f"{path}: 'base' inheritance cycle: {chain}")
    data, lines = _read_yaml(path)
    locations = {k: format_location(path, n) for k, n in lines.items()}
    imports = data.get("imports")
    if isinstance(imports, list) and all(isinstance(m, str) for m in imports):
        # now, not at the check: a plugin's configs are what ``base:`` may name
        plugins.import_plugins(imports, source=f"{locations.get('imports', path)}: imports")
    base = data.pop("base", None)
    data = _translated(data, locations, str(path))
    if base is None:
        return data, locations
    if not isinstance(base, str):
        raise ConfigError(f"{format_location(path, lines.get('base'))}: 'base' must be a path string")
    if not base.strip():
        raise ConfigError(
            f"{format_location(path, lines.get('base'))}: 'base' is empty; expected a config file or a shipped "
            "config's name (deen_sysu)"
        )
    base_path = Path(os.path.expanduser(base))
    if not base_path.is_absolute():
        base_path = path.parent / base_path
    if not base_path.is_file():
        base_path = shipped_config(base) or base_path
    problem = file_problem(base_path, "base config")
    if problem:
        raise ConfigError(f"{format_location(path, lines.get('base'))}: {base_path}: {problem}")
    try:
        tree, below = _load_tree(base_path, (*stack, path))
    except ConfigError as e:  # name the file whose base: led there, too (a cycle's chain names them all)
        if "'base' inheritance cycle" in str(e) and "(the base: of " in str(e):
            raise
        raise ConfigError(f"{e} (the base: of {format_location(path, lines.get('base'))})") from None
    return _merge(tree, data), {**below, **locations}


def _override_value(key: str, raw: str, item: str) -> Any:
    """An override's value: YAML (``1e-3``, ``[5, 10]``, ``null``), except text YAML would change or
    cannot read, which means itself (spaces at its ends aside): an unquoted value YAML reads as
    text other than the one typed (a line break folded into a space or dropped at the end, a tab
    dropped at the end, ``#`` read as a comment), a character YAML refuses (:data:`NOT_YAML`; a NUL
    byte stays refused, no file name holds one) or a tab where YAML allows none. Quoted values and
    YAML's explicit forms (``!tag``, ``|`` and ``>`` blocks) are YAML's."""
    if not raw.strip():
        return ""
    typed = raw.strip(" ")
    if "\x00" not in raw and NOT_YAML.search(raw):
        return typed
    try:
        value, _ = parse_yaml(raw, f"{CLI}: override {key}")
    except ConfigError as exc:
        if "\t" in raw:  # a tab may separate YAML's tokens, never start one: in a name, it is the name's
            return typed
        raise ConfigError(f"{CLI}: override {item!r}: value is not valid YAML ({exc})") from None
    if isinstance(value, str) and value != typed and not typed.startswith(("'", '"', "!", "|", ">")):
        return typed
    return value


def parse_overrides(overrides: Iterable[str]) -> dict:
    """``["optim.lr=0.01", "model.args.width=0.5"]`` -> nested dict (values parsed as YAML,
    :func:`_override_value`)."""
    tree: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"{CLI}: override {item!r} is not of the form section.key=value")
        value = _override_value(key, raw, item)
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{CLI}: override {item!r} conflicts with an earlier override")
        node[parts[-1]] = value
    return tree


def _override_locations(tree: Mapping, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in tree.items():
        out[f"{prefix}{k}"] = CLI
        if isinstance(v, Mapping):
            out.update(_override_locations(v, f"{prefix}{k}."))
    return out


def _with_overrides(
    tree: dict, locations: dict[str, str], overrides: Iterable[str]
) -> tuple[dict, dict[str, str], dict[str, tuple[str, Any]]]:
    """The tree with ``overrides`` merged, their locations, and the keys they put below a value
    (:func:`_keys_below_values`)."""
    overrides = list(overrides)
    top = parse_overrides(overrides)
    if not top:
        return tree, locations, {}
    mine = _override_locations(top)
    top = _translated(top, mine, CLI)
    return _merge(tree, top), {**locations, **mine}, _keys_below_values(tree, overrides)


def _keys_below_values(tree: Mapping, overrides: Iterable[str]) -> dict[str, tuple[str, Any]]:
    """``{"data.root": ("x", "data/x")}`` for the override ``data.root.x=1`` where ``data.root`` holds
    a value.  A key that takes a section too (``model.args.vit``) validates; one that does not is
    named as the override (:func:`_validated`), not blamed for holding ``{'x': 1}``."""
    out: dict[str, tuple[str, Any]] = {}
    for item in overrides:
        parts = str(item).split("=", 1)[0].strip().split(".")
        node: Any = tree
        for i, part in enumerate(parts[:-1]):
            node = node.get(part) if isinstance(node, Mapping) else None
            if node is not None and not isinstance(node, Mapping):
                out.setdefault(".".join(parts[: i + 1]), (".".join(parts[i + 1 :]), node))
                break
    return out


def _validated(tree: dict, locations: dict[str, str], source: str, below: Mapping[str, tuple[str, Any]]) -> Config:
    try:
        return validate(tree, locations, source)
    except ConfigError as exc:
        for key, (sub, have) in below.items():
            if f": {key}: " in f": {exc}":
                raise ConfigError(
                    f"{CLI}: {key}.{sub}: {key} is a value ({have!r}), not a section with keys; "
                    f"override it as {key}=VALUE"
                ) from None
        raise


@contextlib.contextmanager
def _warnings_once_valid() -> Iterator[None]:
    """Warnings raised while a config is read (vireid 0.1 keys...) are shown only once the whole
    config is valid: a refused config gets one line, its error."""
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("always")
        yield
    seen = set()
    for w in held:
        if (str(w.message), w.category) not in seen:
            seen.add((str(w.message), w.category))
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def from_dict(tree: Mapping, source: str = "<dict>") -> Config:
    """Build a :class:`Config` from a (possibly partial) nested dict, checking every key."""
    locations: dict[str, str] = {}
    with _warnings_once_valid():
        return validate(_translated(dict(tree), locations, source), locations, source)


def config_imports(path: str | os.PathLike) -> list[str]:
    """The plugin modules a config file lists under ``imports:`` (following ``base:``), unchecked."""
    tree, _ = _load_tree(resolve_config(path), ())
    found = tree.get("imports") or []
    return [m for m in found if isinstance(m, str)] if isinstance(found, list) else []


def apply_overrides(cfg: Config, overrides: Iterable[str]) -> Config:
    """A new config with dotted ``key=value`` overrides applied."""
    with _warnings_once_valid():
        tree, locations, below = _with_overrides(to_dict(cfg), {}, overrides)
        return _validated(tree, locations, "<config>", below)


def load_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> Config:
    """Load ``path`` -- a YAML file or a shipped config's name -- (following ``base:``) and apply
    command-line ``overrides``."""
    file = resolve_config(path)
    with _warnings_once_valid():
        tree, locations = _load_tree(file, ())
        tree, locations, below = _with_overrides(tree, locations, overrides)
        return _validated(tree, locations, str(file), below)


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None)


def save_config(cfg: Config, path: str | os.PathLike) -> None:
    """Write the resolved config as a run's ``config.yaml`` (atomically, marked as vireid's)."""
    from vireid.utils.outputs import RUN_CONFIG, text_header

    atomic_write_text(path, text_header(RUN_CONFIG) + dump_config(cfg), kind=RUN_CONFIG)


def config_diff(a: Config, b: Config) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (a value, b value)}`` for every leaf that differs."""
    out: dict[str, tuple[Any, Any]] = {}

    def walk(x: Any, y: Any, prefix: str) -> None:
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{prefix}{k}.")
        elif x != y:
            out[prefix[:-1]] = (x, y)

    walk(to_dict(a), to_dict(b), "")
    return out
