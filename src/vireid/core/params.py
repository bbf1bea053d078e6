"""Declared parameters: a constructor's keywords, with their type, default and allowed values beside
them, *are* its configuration.

::

    @TERMS.register("cpm")
    class CPMTerm(Term):
        def __init__(self, margin: Annotated[float, Range(0)] = 0.2, normalize: bool = False) -> None: ...

:func:`declared_params` reads the keywords from the signature, with their annotations (the rules
below ride in ``Annotated`` metadata) and defaults; :mod:`vireid.core.checks` checks values against
them, so ``loss.cpm.margin=-1`` or ``model.args.base_channels=abc`` is one line naming the key, the
value and what is allowed.  The config schema's own fields are declared the same way
(:mod:`vireid.config.schema`).

Why our own checker: the annotations are plain :mod:`typing`; a validation library (pydantic) would
be a heavy new dependency, and its multi-line messages do not name the config key.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

Annotated = typing.Annotated
MISSING = inspect.Parameter.empty


# --------------------------------------------------------------------------- rules
def _bound(x: float) -> str:
    """A bound as a reader wants it: ``2^63`` rather than ``9.22337e+18``, ``1e-08`` as it is."""
    if isinstance(x, int) and x >= 2**20 and x & (x - 1) == 0:
        return f"2^{x.bit_length() - 1}"
    return f"{x}" if isinstance(x, int) else f"{x:g}"


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
        lo = "" if self.lo is None else f"{'>' if self.lo_open else '>='} {_bound(self.lo)}"
        hi = "" if self.hi is None else f"{'<' if self.hi_open else '<='} {_bound(self.hi)}"
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
#: the most processes or threads one count (``data.workers``, ``train.threads``, ``--workers``,
#: ``--jobs``) may ask for: far above any machine's use, and it bounds what a file can make vireid
#: spawn (``data.workers=100000`` forked until the machine stalled; torch's thread pool crashes
#: with a segmentation fault far above it)
MAX_WORKERS = 256
WORKERS = Range(0, MAX_WORKERS)


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


#: a path or name given as text: not empty or blank (pathlib reads "" as the current folder)
NOT_EMPTY = Check(lambda v: not isinstance(v, str) or bool(v.strip()), "a path or name, not empty")


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
