"""YAML config files with ``base:`` inheritance and dotted command-line overrides.

* ``base: other.yaml`` (path relative to the file, else a shipped config's name, see
  :mod:`vireid.config.shipped`) is loaded first, recursively; mappings are merged key by
  key, everything else is replaced.  A cycle is an error.
* Overrides ``section.key=value`` (value parsed as YAML, so ``1e-3``, ``[20, 80]``,
  ``null`` and ``true`` work) apply after the files.
* Every key is checked against :mod:`vireid.config.schema`; an unknown key or a value
  of the wrong type raises :class:`~vireid.errors.ConfigError` naming the file, the line
  and the expected keys or type.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from vireid.config.ranges import check_value
from vireid.config.schema import Config
from vireid.config.shipped import resolve_config, shipped_config
from vireid.errors import ConfigError, format_location
from vireid.utils.io import atomic_write_text

CLI = "<command line>"


def yaml_problem(exc: BaseException) -> tuple[int | None, str]:
    """``(line, one-line reason)`` of a YAML error (PyYAML's own message spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    text = f"{context}: {reason}" if context else str(reason)
    return (mark.line + 1 if mark is not None else None), " ".join(text.split())


def _read_yaml(path: Path) -> tuple[dict, dict[str, int]]:
    """Parse a YAML mapping; returns (data, {dotted key: line number})."""
    if not path.is_file():
        what = "is a folder, not a config file" if path.is_dir() else "config file not found"
        raise ConfigError(f"{path}: {what}")
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        line, reason = yaml_problem(exc)
        raise ConfigError(f"{format_location(path, line)}: not a readable YAML file ({reason})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a readable YAML file (not UTF-8 text: is it a config?)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if node is None:
        return {}, {}
    constructor = yaml.SafeLoader("")
    lines: dict[str, int] = {}

    def walk(n: yaml.Node, prefix: str) -> Any:
        if isinstance(n, yaml.MappingNode):
            out = {}
            for k, v in n.value:
                key = constructor.construct_object(k, deep=True)
                if not isinstance(key, str):
                    raise ConfigError(f"{format_location(path, k.start_mark.line + 1)}: key {key!r} is not a string")
                dotted = f"{prefix}{key}"
                lines[dotted] = k.start_mark.line + 1
                out[key] = walk(v, dotted + ".")
            return out
        return constructor.construct_object(n, deep=True)

    try:
        data = walk(node, "")
    except yaml.YAMLError as exc:
        line, reason = yaml_problem(exc)
        raise ConfigError(f"{format_location(path, line)}: invalid YAML ({reason})") from None
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


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp`` (int -> float and list -> tuple allowed)."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    expect = None
    if tp is bool:
        if isinstance(value, bool):
            return value
        expect = "true or false"
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expect = "an integer"
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        expect = "a number"
    elif tp is str:
        if isinstance(value, str):
            return value
        expect = "a string"
    elif tp is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(value)
        expect = "a list"
    elif tp is dict:
        if isinstance(value, Mapping):
            return dict(value)
        if value is None:  # "key: null" / key=null switches a free-form section off
            return {}
        expect = "a mapping (or null)"
    else:  # pragma: no cover - schema uses only the types above
        return value
    raise ConfigError(f"{where}: expected {expect}, got {value!r}")


def _validate(tree: Mapping, cls: type, file: str, lines: Mapping[str, int], prefix: str = "") -> None:
    hints = _hints(cls)
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        where = f"{format_location(file, lines.get(dotted))}: {dotted}"
        if key not in hints:
            raise ConfigError(
                f"{format_location(file, lines.get(dotted))}: unknown key "
                f"'{dotted}'; expected one of: {', '.join(hints)}"
            )
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if value is None:  # an empty section ("model:" alone)
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: expected a mapping (section '{dotted}'), got {value!r}")
            _validate(value, tp, file, lines, dotted + ".")
        else:
            problem = check_value(dotted, _coerce(value, tp, where))
            if problem:
                raise ConfigError(f"{where}: {problem}")


def _build(cls: type, tree: Mapping) -> Any:
    hints = _hints(cls)
    kwargs = {}
    for key, value in tree.items():
        tp = hints[key]
        if dataclasses.is_dataclass(tp) and value is None:
            continue
        kwargs[key] = _build(tp, value) if dataclasses.is_dataclass(tp) else _coerce(value, tp, key)
    return cls(**kwargs)


def _load_tree(path: Path, stack: tuple[Path, ...]) -> dict:
    path = path.resolve()
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise ConfigError(f"{path}: 'base' inheritance cycle: {chain}")
    data, lines = _read_yaml(path)
    base = data.pop("base", None)
    _validate(data, Config, str(path), lines)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{format_location(path, lines.get('base'))}: 'base' must be a path string")
    base_path = Path(os.path.expanduser(base))
    if not base_path.is_absolute():
        base_path = path.parent / base_path
    if not base_path.is_file():
        base_path = shipped_config(base) or base_path
    if not base_path.is_file():
        raise ConfigError(f"{format_location(path, lines.get('base'))}: base config {base_path} not found")
    return _merge(_load_tree(base_path, (*stack, path)), data)


def parse_overrides(overrides: Iterable[str]) -> dict:
    """``["optim.lr=0.01", "model.args.width=0.5"]`` -> nested dict (values parsed as YAML)."""
    tree: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"{CLI}: override {item!r} is not of the form section.key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"{CLI}: override {item!r}: value is not valid YAML ({yaml_problem(exc)[1]})") from None
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{CLI}: override {item!r} conflicts with an earlier override")
        node[parts[-1]] = value
    return tree


def to_dict(cfg: Any) -> dict:
    """Plain nested dict of a config (tuples as lists), suitable for YAML/JSON."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, Mapping):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)


def _checked(cfg: Config, source: str) -> Config:
    """Rules between keys (:func:`vireid.config.build.check_eval`), with the config's source."""
    from vireid.config.build import check_eval

    try:
        check_eval(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return cfg


def from_dict(tree: Mapping, source: str = "<dict>") -> Config:
    """Build a :class:`Config` from a (possibly partial) nested dict, checking every key."""
    _validate(tree, Config, source, {})
    return _checked(_build(Config, tree), source)


def apply_overrides(cfg: Config, overrides: Iterable[str]) -> Config:
    """A new config with dotted ``key=value`` overrides applied."""
    top = parse_overrides(overrides)
    _validate(top, Config, CLI, {})
    return _checked(_build(Config, _merge(to_dict(cfg), top)), CLI)


def load_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> Config:
    """Load ``path`` -- a YAML file or a shipped config's name -- (following ``base:``) and apply
    command-line ``overrides``."""
    file = resolve_config(path)
    tree = _load_tree(file, ())
    top = parse_overrides(overrides)
    _validate(top, Config, CLI, {})
    return _checked(_build(Config, _merge(tree, top)), f"{file}{' + ' + CLI if top else ''}")


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
