"""Declared parameters: a constructor's keywords, with their type, default and allowed values beside
them, *are* its configuration.

::

    @TERMS.register("cpm")
    class CPMTerm(Term):
        def __init__(self, margin: Annotated[float, Range(0)] = 0.2, normalize: bool = False) -> None: ...

:func:`declared_params` reads the keywords from the signature; :func:`check_value` checks one value
against its annotation (types, ``Literal`` choices and the rules in ``Annotated`` metadata) and
:func:`check_kwargs` a whole mapping, so ``loss.cpm.margin=-1`` or ``model.args.base_channels=abc``
is one line naming the key, the value and what is allowed.  The config schema's own fields are
declared the same way (:mod:`vireid.config.schema`).

Why our own checker: the annotations are plain :mod:`typing`; a validation library (pydantic) would
be a heavy new dependency, and its multi-line messages do not name the config key.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

from vireid.errors import ConfigError

Annotated = typing.Annotated
MISSING = inspect.Parameter.empty


# --------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Range:
    """``lo <= x <= hi`` for a number, or for every item of a list (``lo_open``/``hi_open``: strict)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def ok(self, x: float) -> bool:
        if isinstance(x, float) and not math.isfinite(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))

    def text(self) -> str:
        lo = "" if self.lo is None else f"{'>' if self.lo_open else '>='} {self.lo:g}"
        hi = "" if self.hi is None else f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return " and ".join(t for t in (lo, hi) if t) or "finite"

    def problem(self, value: Any) -> str | None:
        items = value if isinstance(value, (list, tuple)) else [value]
        for x in items:
            if isinstance(x, (int, float)) and not isinstance(x, bool) and not self.ok(x):
                where = " (every item)" if isinstance(value, (list, tuple)) else ""
                return f"must be {self.text()}{where}"
        return None


POSITIVE = Range(0, lo_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_1 = Range(1)
PROBABILITY = Range(0, 1)
UNIT_OPEN = Range(0, 1, hi_open=True)


@dataclass(frozen=True)
class Length:
    """A list of ``min``..``max`` items (``max=None``: no upper bound; ``Length(2)``: exactly 2)."""

    min: int
    max: int | None = -1

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, (list, tuple)):
            return None
        hi = self.min if self.max == -1 else self.max
        n = len(value)
        if n < self.min or (hi is not None and n > hi):
            want = f"{self.min}" if hi == self.min else f"{self.min} or more" if hi is None else f"{self.min}..{hi}"
            return f"must have {want} item(s)"
        return None


@dataclass(frozen=True)
class Ascending:
    """A list in ascending order (``strict``: no two equal)."""

    strict: bool = False

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, (list, tuple)):
            return None
        pairs = list(zip(value[:-1], value[1:], strict=True))
        if any((b <= a) if self.strict else (b < a) for a, b in pairs):
            return "must be in " + ("strictly " if self.strict else "") + "ascending order"
        return None


@dataclass(frozen=True)
class Check:
    """Any other rule: ``predicate(value)`` must hold; ``text`` says what is allowed."""

    predicate: Callable[[Any], bool]
    text: str

    def problem(self, value: Any) -> str | None:
        return None if self.predicate(value) else f"must be {self.text}"


@dataclass(frozen=True)
class Registered:
    """The name of an entry of ``registry`` (a :class:`vireid.core.registry.Registry`)."""

    registry: Any

    def problem(self, value: Any) -> str | None:
        if isinstance(value, str) and value not in self.registry:
            return f"unknown {self.registry.kind}; expected one of {', '.join(self.registry.names())}"
        return None


@dataclass(frozen=True)
class KwargsOf:
    """A mapping of keyword arguments for ``target``: a callable (or its :class:`Params`), or with
    ``by`` the entry of the registry ``target`` named by the sibling parameter ``by`` (e.g. DEEN-ViT's
    ``expansion_kwargs`` for its ``expansion``).  ``skip``: keywords the owner passes itself."""

    target: Any
    by: str | None = None
    skip: tuple[str, ...] = ()


# --------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Param:
    """One declared keyword: ``annotation`` (rules in its ``Annotated`` metadata) and ``default``."""

    name: str
    annotation: Any = Any
    default: Any = MISSING

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def describe(self) -> str:
        return describe(self.annotation)


@dataclass(frozen=True)
class Params:
    """The declared keywords of a callable (``open``: it also takes ``**kwargs``)."""

    owner: str
    params: dict[str, Param]
    open: bool = False

    def __iter__(self):
        return iter(self.params.values())

    def names(self) -> list[str]:
        return list(self.params)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self if not p.required}


_CACHE: dict[tuple[Any, tuple[str, ...]], Params] = {}


def declared_params(fn: Callable[..., Any], skip: Sequence[str] = ()) -> Params:
    """The keywords of ``fn`` (a class: its ``__init__``, less ``self``) with their annotations and
    defaults; ``skip``: leading arguments the caller always passes (``root``, ``dim``).  Cached: a
    signature does not change."""
    key = (fn, tuple(skip))
    try:
        found = _CACHE.get(key)
    except TypeError:  # an unhashable callable
        return _declared_params(fn, skip)
    if found is None:
        found = _CACHE[key] = _declared_params(fn, skip)
    return found


def _declared_params(fn: Callable[..., Any], skip: Sequence[str] = ()) -> Params:
    target = fn.__init__ if isinstance(fn, type) else fn
    owner = getattr(fn, "__qualname__", repr(fn))
    sig = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # a forward reference that does not resolve: a plugin author's error
        raise TypeError(f"{owner}: cannot read the type annotations of its keywords ({exc})") from None
    out: dict[str, Param] = {}
    is_open = False
    for i, p in enumerate(sig.parameters.values()):
        if i == 0 and isinstance(fn, type):
            continue  # self
        if p.kind is p.VAR_KEYWORD:
            is_open = True
            continue
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) or p.name in skip:
            continue
        out[p.name] = Param(p.name, hints.get(p.name, Any), p.default)
    return Params(owner, out, is_open)


def dataclass_params(cls: type) -> Params:
    """The fields of a dataclass as :class:`Params` (the config schema's sections; cached)."""
    key = (cls, ("<dataclass>",))
    if key not in _CACHE:
        _CACHE[key] = _dataclass_params(cls)
    return _CACHE[key]


def _dataclass_params(cls: type) -> Params:
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        out[f.name] = Param(f.name, hints[f.name], default)
    return Params(cls.__qualname__, out)


# --------------------------------------------------------------------------- checking
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
