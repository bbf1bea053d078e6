"""Grammars of values: numbers at their edges, wrong types, awkward text, YAML spellings, file names.

Each strategy draws a :class:`Value`: the text to put in a command line or a YAML file, and
whether it is certainly wrong for the type it replaces (``bad``) -- a value of another type, a
NaN, a number no size or count can take.  What is certainly wrong must be refused; the rest may
be accepted or refused, with one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st


@dataclass(frozen=True)
class Value:
    text: str  # as written on a command line after ``key=`` or as a YAML scalar / flow value
    bad: bool = False  # certainly invalid for the type it replaces
    note: str = ""


def _v(text: str, bad: bool = False, note: str = "") -> Value:
    return Value(text, bad, note or text)


EDGE_INTS = ("-1", "0", "1", "2", "3", "7", "-2", "2147483648", "9223372036854775807", "1180591620717411303424")
HUGE_INTS = ("1e9", "100000000", "1180591620717411303424", "-9223372036854775809")
FLOATS = (".nan", ".NaN", ".inf", "-.inf", "1e308", "-1e308", "0.0", "-0.0", "1e-320", "0.5", "1.5", "-0.5")
WRONG = ("abc", "''", "'1'", "[1, 2]", "[]", "{a: 1}", "{}", "null", "true", "false", "yes", "~")
TEXT = (
    "'é漢字🙂'",
    "'a b'",
    "' '",
    "'\\t'",
    '"\\x00"',
    '"line\\nbreak"',
    '"\\u202eevil"',
    "'" + "x" * 5000 + "'",
    "'../../etc/passwd'",
    "'/dev/zero'",
    "'SGD'",
    "'sgd '",
)
#: YAML that is a trap rather than a value: code execution tags, aliases, unclosed brackets
TRAPS = (
    "!!python/object/apply:os.system ['touch PWNED']",
    "!!python/name:os.system",
    "&a [*a]",
    "[1, 2",
    "{a: 1",
    "*undefined",
    "!!binary AAAA",
    "!!float abc",
    "2001-12-14",
    "0x1F",
    "0o17",
    "1_000",
    "+12",
    ".5",
)


def alias_bomb(levels: int, refs: int) -> str:
    """A YAML flow value of ``refs ** levels`` leaves through anchors (a "billion laughs")."""
    parts = ["&l0 [x, x]"]
    for i in range(1, levels):
        parts.append(f"&l{i} [" + ", ".join([f"*l{i - 1}"] * refs) + "]")
    return "[" + ", ".join(parts) + "]"


def deep(depth: int, kind: str = "[") -> str:
    """A flow value nested ``depth`` levels deep."""
    close = {"[": "]", "{": "}"}[kind]
    inner = "1" if kind == "[" else "a: 1"
    if kind == "{":
        return "{a: " * depth + "1" + "}" * depth
    return kind * depth + inner + close * depth


@st.composite
def scalar_for(draw, current: object) -> Value:
    """A value to replace ``current`` (a config leaf), good or bad."""
    if isinstance(current, bool):
        choice = draw(st.sampled_from(["true", "false", "1", "0", "'true'", "yes", "on", "abc", "[true]", ".nan"]))
        return _v(choice, bad=choice in ("1", "0", "'true'", "abc", "[true]", ".nan"))
    if isinstance(current, int):
        pool = [_v(t) for t in EDGE_INTS] + [_v(t) for t in HUGE_INTS]
        pool += [_v(t, bad=True) for t in ("abc", "[1]", "{a: 1}", "true", "1.5", ".nan", ".inf", "''")]
        return draw(st.sampled_from(pool) | st.integers(-5, 50).map(lambda i: _v(str(i))))
    if isinstance(current, float):
        pool = [_v(t, bad=t in (".nan", ".NaN")) for t in FLOATS]
        pool += [_v(t, bad=True) for t in ("abc", "[0.1]", "true", "{a: 1}")]
        pool += [_v(t) for t in EDGE_INTS[:6]]
        return draw(st.sampled_from(pool) | st.floats(-10, 10, allow_nan=False).map(lambda f: _v(repr(f))))
    if isinstance(current, str):
        pool = [_v(t) for t in TEXT] + [_v(t) for t in ("abc", "none", "None", "null", "auto", "cpu", "1")]
        pool += [_v(t, bad=True) for t in ("[a]", "{a: b}")]
        return draw(st.sampled_from(pool))
    if isinstance(current, (list, tuple)):
        items = list(current)
        pool = [
            _v("[]"),
            _v("[" + ", ".join(map(_flow, items[:1])) + "]"),
            _v("[" + ", ".join(map(_flow, items + items[-1:])) + "]"),
            _v("[" + ", ".join(map(_flow, reversed(items))) + "]"),
            _v("[" + ", ".join(map(_flow, items)) + ", abc]"),
            _v("[[" + ", ".join(map(_flow, items)) + "]]"),
            _v("[.nan" + ", .nan" * max(0, len(items) - 1) + "]", bad=bool(items) and _numeric(items)),
            _v("[-1" + ", -1" * max(0, len(items) - 1) + "]"),
            _v("[" + ", ".join(["1"] * 100) + "]"),
            _v("abc", bad=True),
            _v("1", bad=True),
            _v("{a: 1}", bad=True),
        ]
        return draw(st.sampled_from(pool))
    if isinstance(current, dict):
        return draw(st.sampled_from([_v("{}"), _v("null"), _v("{foo: 1}"), _v("[1]", bad=True), _v("abc", bad=True)]))
    return draw(st.sampled_from([_v(t) for t in WRONG + EDGE_INTS[:3] + FLOATS[:3]]))


def _numeric(items: list) -> bool:
    return all(isinstance(i, (int, float)) and not isinstance(i, bool) for i in items)


def _flow(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(map(_flow, v)) + "]"
    return repr(v)


flow = _flow


def any_value() -> st.SearchStrategy[Value]:
    """A value for a key of unknown type (an extra key, a free-form section)."""
    return st.sampled_from(
        [_v(t) for t in WRONG + EDGE_INTS + FLOATS + TEXT[:4]]
        + [_v(t, bad=t.startswith("!!python") or t == "&a [*a]") for t in TRAPS]
    )


def trap() -> st.SearchStrategy[Value]:
    """A YAML trap as a value: a code-execution tag, a recursive alias, a bomb, deep nesting."""
    return st.one_of(
        st.sampled_from([_v(t, bad=t.startswith("!!python") or t.startswith("&a")) for t in TRAPS]),
        st.builds(
            lambda lv, r: _v(alias_bomb(lv, r), bad=True, note=f"alias bomb {lv}x{r}"),
            st.integers(6, 12),
            st.integers(6, 12),
        ),
        st.builds(
            lambda d, k: _v(deep(d, k), bad=True, note=f"nested {d} deep"),
            st.integers(200, 20000),
            st.sampled_from("[{"),
        ),
    )


# --------------------------------------------------------------------------- file names
#: names a user's files may have; all valid (a command must take them)
GOOD_NAMES = ("plain", "with space", "données", "漢字", "emoji🙂", "-dash", "a'quote", 'a"dq', "semi;colon", "$HOME")
#: characters a file name may hold that a terminal must not see raw
CONTROL = ("\n", "\r", "\t", "\x1b[31m", "\x07", "\x7f", "\u202e", "\x85")


@st.composite
def file_name(draw, suffix: str = "") -> tuple[str, bool]:
    """``(name, has_control)``: a file name a user may give (valid on Linux)."""
    base = draw(st.sampled_from(GOOD_NAMES))
    ctrl = draw(st.booleans())
    if ctrl:
        c = draw(st.sampled_from(CONTROL))
        base = base[:2] + c + base[2:]
    return base + suffix, ctrl
