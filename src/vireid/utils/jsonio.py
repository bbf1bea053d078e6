"""The one JSON decoder for what vireid reads: a file, a safetensors header or metadata value, a log line.

:func:`json_loads` is the only place in vireid that calls :func:`json.loads` on text it did not
build itself in the same call (``tests/test_json_discipline.py`` checks every module for it).  Bad
text is one :class:`~vireid.errors.JSONError` line naming ``where`` (the file, and the key or
line), never a traceback:

* ``"<where>: not text (not UTF-8)"`` -- bytes that are not UTF-8;
* ``"<where>: not valid JSON (Expecting value at line L column C)"`` -- a syntax error;
* ``"<where>: JSON nested too deeply (more than 64 levels)"`` -- arrays and objects nested deeper
  than :data:`MAX_JSON_DEPTH`;
* ``"<where>: not valid JSON (key 'k' is given twice)"`` -- an object naming a key twice (which
  value is meant is not known; ``json`` would keep the last silently).

The depth is capped explicitly, before parsing, rather than left to Python's recursion limit: the
``json`` module recurses once per level and a small file (``"[" * 100_000``) would raise
``RecursionError`` deep inside it (or, once parsed, in whatever walks the value next: a copy, a
``json.dumps``, a config merge).  64 levels hold anything vireid writes (its deepest, a run's
config in a checkpoint's metadata, is a few levels; YAML configs are refused beyond 32) with room
to spare.  The check is a scan of the text outside strings, done only when the text holds more
opening brackets than the cap (so never for the usual small files).

:class:`~vireid.errors.JSONError` is also a ``ValueError`` (as ``json``'s own errors are): a
reader that tolerates a bad file (a lock's holder, a cached result) keeps catching ``ValueError``.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, Callable

from vireid.errors import JSONError

#: arrays and objects nested deeper than this are refused (module docstring)
MAX_JSON_DEPTH = 64

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # a JSON string (escapes included)
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """How deep the arrays and objects of the JSON ``text`` are nested (brackets inside strings not
    counted); iterative, so any depth is measured without recursion."""
    if text.count("[") + text.count("{") == 0:
        return 0
    steps = (1 if c in "[{" else -1 for c in _BRACKET.findall(_STRING.sub("", text)))
    return max(accumulate(steps), default=0)


def _fail(where: str, why: str, expected: str | None, *, too_deep: bool = False) -> JSONError:
    err = JSONError(f"{where}: {why}" + (f"; expected {expected}" if expected else ""))
    err.where, err.why, err.too_deep = where, why, too_deep
    return err


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once: ``json`` keeps the last of a key given twice
    silently, so which value the file means is not known."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} is given twice")
        out[key] = value
    return out


def json_loads(
    data: str | bytes | bytearray,
    where: str,
    *,
    expected: str | None = None,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = unique_keys,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """The value of the JSON ``data`` (text, or bytes read as UTF-8) read from ``where``
    (``"runs/a/metrics.json"``, ``"x.safetensors: metadata 'config'"``, ``"m.jsonl:7"``).

    Raises :class:`~vireid.errors.JSONError` (one line: ``where``, what is wrong, then
    ``; expected <expected>`` when given) for bytes that are not UTF-8, text that is not JSON, or
    arrays/objects nested deeper than ``max_depth`` (checked before parsing: see the module
    docstring), or an object with a key given twice (:func:`unique_keys`, the default
    ``object_pairs_hook``).  ``error.why`` is the reason alone and ``error.too_deep`` tells the
    depth apart. A ``ValueError`` that ``object_pairs_hook`` raises becomes the reason
    (``"not valid JSON (...)"``).
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(where, "not text (not UTF-8)", expected) from None
    else:
        text = data
    if text.count("[") + text.count("{") > max_depth and json_depth(text) > max_depth:
        raise _fail(where, f"JSON nested too deeply (more than {max_depth} levels)", expected, too_deep=True)
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as exc:
        raise _fail(where, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", expected) from None
    except RecursionError:  # pragma: no cover - the depth cap comes first
        raise _fail(where, "JSON nested too deeply", expected, too_deep=True) from None
    except ValueError as exc:  # the hook's (a key given twice)
        raise _fail(where, f"not valid JSON ({exc})", expected) from None
