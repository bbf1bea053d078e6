"""Checking values against declared parameters (:mod:`vireid.core.params`): types, ``Literal``
choices, ``Optional``, lists and mappings, and the rules in ``Annotated`` metadata.

:func:`check_value` checks one value and returns it normalised (an int where a number is declared
becomes a float, a list where a tuple is declared a tuple); :func:`check_kwargs` checks a mapping
of keywords (unknown and missing ones included).  Every problem is a one-line
:class:`~vireid.errors.ConfigError` ``"key: what is allowed, got value"``.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from vireid.core.params import Annotated, KwargsOf, Params, Range, declared_params
from vireid.errors import ConfigError


def _split(tp: Any) -> tuple[Any, tuple]:
    """``(base type, rules)`` of a possibly ``Annotated`` annotation."""
    if typing.get_origin(tp) is Annotated:
        base, *rules = typing.get_args(tp)
        inner, more = _split(base)
        return inner, (*more, *rules)
    return tp, ()


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def describe(tp: Any) -> str:
    """What an annotation allows, in words (for error messages)."""
    base, rules = _split(tp)
    text = _describe_base(base)
    extra = [r.text() if isinstance(r, Range) else "" for r in rules]
    extra = [e for e in extra if e and e != "finite"]
    return f"{text} {' and '.join(extra)}" if extra else text


def _describe_base(tp: Any) -> str:
    if tp is Any:
        return "any value"
    if tp is type(None) or tp is None:
        return "null"
    if _is_union(tp):
        return " or ".join(dict.fromkeys(describe(a) for a in typing.get_args(tp)))
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) if not isinstance(a, str) else a for a in typing.get_args(tp))
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if origin is tuple and args and Ellipsis not in typing.get_args(tp):
            return f"a list of {len(args)} ({', '.join(describe(a) for a in args)})"
        return f"a list of {_plural(describe(args[0]))}" if args else "a list"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _plural(text: str) -> str:
    for one, many in (("an integer", "integers"), ("a number", "numbers"), ("a string", "strings")):
        if text.startswith(one):
            return many + text[len(one) :]
    return text


class _Mismatch(Exception):
    """A value does not fit an annotation (message: what was expected)."""


def check_value(value: Any, annotation: Any, key: str, siblings: Mapping[str, Any] | None = None) -> Any:
    """``value`` checked against ``annotation`` and returned normalised (int -> float where a number is
    declared, a list -> tuple where a tuple is); a :class:`ConfigError` ``"key: ..., got value"``
    otherwise.  ``siblings``: the other values of the same mapping (for :class:`KwargsOf` ``by``)."""
    try:
        return _check(value, annotation, key, siblings or {})
    except _Mismatch as exc:
        raise ConfigError(f"{key}: {exc}, got {_show(value)}") from None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check(value: Any, tp: Any, key: str, siblings: Mapping[str, Any]) -> Any:
    base, rules = _split(tp)
    out = _check_base(value, base, key, siblings)
    if out is None:  # null is checked by the type (Optional) alone
        return None
    for rule in rules:
        if isinstance(rule, KwargsOf):
            out = _check_kwargs_of(rule, out, key, siblings)
            continue
        problem = rule.problem(out) if hasattr(rule, "problem") else None
        if problem:
            raise _Mismatch(problem)
    return out


def _check_base(value: Any, tp: Any, key: str, siblings: Mapping[str, Any]) -> Any:
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    if tp is None or tp is type(None):
        if value is None:
            return None
        raise _Mismatch("expected null")
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        problems = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check(value, a, key, siblings)
            except _Mismatch as exc:
                problems.append(str(exc))
            except ConfigError:
                raise
        if len(problems) == 1:
            null = type(None) in args and "null" not in problems[0]
            raise _Mismatch(problems[0] + (" or null" if null else ""))
        raise _Mismatch(f"expected {describe(tp)}")
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise _Mismatch(f"expected one of {', '.join(str(c) for c in choices)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch("expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch("expected an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise _Mismatch("expected a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch("expected a string")
    if origin in (tuple, list, Sequence, typing.Sequence) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(f"expected {describe(tp)}")
        args = typing.get_args(tp)
        if origin is tuple and args and Ellipsis not in args:
            if len(value) != len(args):
                raise _Mismatch(f"expected {describe(tp)}")
            items = [
                check_value(v, a, f"{key}[{i}]", siblings) for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
        elif args:
            items = [check_value(v, args[0], f"{key}[{i}]", siblings) for i, v in enumerate(value)]
        else:
            items = list(value)
        return tuple(items) if origin is tuple or tp is tuple else list(items)
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
        if value is None:  # "key: null" switches a free-form mapping off
            return {}
        if not isinstance(value, Mapping):
            raise _Mismatch("expected a mapping (or null)")
        args = typing.get_args(tp)
        if len(args) == 2:
            return {
                check_value(k, args[0], key, siblings): check_value(v, args[1], f"{key}.{k}", siblings)
                for k, v in value.items()
            }
        return dict(value)
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Mismatch(f"expected {describe(tp)}")
    return value  # an annotation we cannot check (a string forward reference)


def _check_kwargs_of(rule: KwargsOf, value: Mapping, key: str, siblings: Mapping[str, Any]) -> dict:
    target = rule.target
    if rule.by is not None:
        name = siblings.get(rule.by)
        if not isinstance(name, str) or name not in target:
            return dict(value)  # the sibling itself is reported
        target = target.get(name)
    params = target if isinstance(target, Params) else declared_params(target, skip=rule.skip)
    return check_kwargs(params, value, key)


def check_kwargs(
    params: Params, values: Mapping[str, Any], prefix: str, *, fill: bool = False, noun: str = "argument"
) -> dict[str, Any]:
    """Every item of ``values`` checked against ``params`` (unknown keywords and missing required ones
    are errors naming ``prefix.key``); ``fill``: add the defaults of the keywords not given."""
    unknown = [k for k in values if k not in params.params]
    if unknown and not params.open:
        k = unknown[0]
        raise ConfigError(
            f"{prefix}.{k}: unknown {noun} of {params.owner}; expected one of: {', '.join(params.names()) or 'none'}"
        )
    missing = [p.name for p in params if p.required and p.name not in values]
    if missing:
        raise ConfigError(f"{prefix}: {params.owner} needs {', '.join(missing)}")
    merged = {**params.defaults(), **values}
    out = {}
    for k, v in values.items():
        p = params.params.get(k)
        out[k] = check_value(v, p.annotation, f"{prefix}.{k}", merged) if p is not None else v
    if fill:
        defaults = params.defaults()
        out = {**{k: out[k] if k in out else defaults[k] for k in params.names() if k in out or k in defaults}, **out}
    return out
