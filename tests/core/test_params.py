"""core.params: a declared keyword's type, default and rules check a value in one line naming the key."""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vireid.core.checks import check_kwargs, check_value, describe
from vireid.core.params import Annotated, Ascending, Check, KwargsOf, Length, Range, declared_params
from vireid.core.registry import Registry
from vireid.errors import ConfigError


class Head:
    def __init__(
        self,
        dim: int,
        *,
        p: Annotated[float, Range(0, 1)] = 0.5,
        kind: Literal["a", "b"] = "a",
        sizes: Annotated[Sequence[int], Length(2), Range(1), Ascending()] = (1, 2),
        even: Annotated[int, Check(lambda v: v % 2 == 0, "an even number")] = 2,
        name: Optional[str] = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        pass


def test_declared_params_read_the_signature():
    params = declared_params(Head)
    assert params.names() == ["dim", "p", "kind", "sizes", "even", "name", "extra"]
    assert params.params["dim"].required and params.defaults()["p"] == 0.5
    assert declared_params(Head, skip=("dim",)).names()[0] == "p"


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("p", 1.5, "x.p: must be >= 0 and <= 1, got 1.5"),
        ("p", "abc", "x.p: expected a number, got 'abc'"),
        ("p", True, "x.p: expected a number, got True"),
        ("kind", "c", "x.kind: expected one of a, b, got 'c'"),
        ("sizes", [3, 2], "x.sizes: must be in ascending order, got [3, 2]"),
        ("sizes", [1], "x.sizes: must have 2 item(s), got [1]"),
        ("sizes", [0, 2], "x.sizes: must be >= 1 (every item), got [0, 2]"),
        ("sizes", [1, "x"], "x.sizes[1]: expected an integer"),
        ("even", 3, "x.even: must be an even number, got 3"),
        ("name", 3, "x.name: expected a string or null, got 3"),
        ("extra", [1], "x.extra: expected a mapping (or null), got [1]"),
    ],
)
def test_bad_values_are_one_line(key, value, message):
    with pytest.raises(ConfigError) as info:
        check_kwargs(declared_params(Head), {"dim": 4, key: value}, "x")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_unknown_and_missing_keywords():
    with pytest.raises(ConfigError, match=r"^x\.dimm: unknown argument of Head; expected one of: dim, p"):
        check_kwargs(declared_params(Head), {"dimm": 4}, "x")
    with pytest.raises(ConfigError, match=r"^x: Head needs dim"):
        check_kwargs(declared_params(Head), {}, "x")


def test_values_are_normalised_and_defaults_filled():
    got = check_kwargs(declared_params(Head), {"dim": 4, "p": 1, "sizes": (3, 4)}, "x", fill=True)
    assert got == {"dim": 4, "p": 1.0, "kind": "a", "sizes": [3, 4], "even": 2, "name": None, "extra": None}
    assert isinstance(got["p"], float)
    assert check_value([1, 2], tuple[float, float], "k") == (1.0, 2.0)
    assert check_value("1e-3", float, "k") == 1e-3


WIDGETS: Registry = Registry("widget")


@WIDGETS.register("w")
class W:
    def __init__(self, dim: int, depth: Annotated[int, Range(1)] = 1) -> None:
        pass


class Owner:
    def __init__(
        self,
        kind: str = "w",
        kind_kwargs: Annotated[Mapping[str, Any], KwargsOf(WIDGETS, by="kind", skip=("dim",))] = None,
    ) -> None:
        pass


def test_kwargs_of_a_registry_entry():
    params = declared_params(Owner)
    assert check_kwargs(params, {"kind_kwargs": {"depth": 2}}, "m")["kind_kwargs"] == {"depth": 2}
    with pytest.raises(ConfigError, match=r"^m\.kind_kwargs\.depth: must be >= 1, got 0"):
        check_kwargs(params, {"kind_kwargs": {"depth": 0}}, "m")
    with pytest.raises(ConfigError, match=r"^m\.kind_kwargs\.dim: unknown argument of"):
        check_kwargs(params, {"kind_kwargs": {"dim": 3}}, "m")


def test_describe():
    assert describe(Annotated[int, Range(1)]) == "an integer >= 1"
    assert describe(Optional[Literal["x", "y"]]) == "one of x, y or null"
    assert describe(Sequence[int]) == "a list of integers"


@given(st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(), st.none()))
def test_a_range_accepts_exactly_the_finite_numbers_in_it(x):
    tp = Annotated[float, Range(0, 1, hi_open=True)]
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and 0 <= x < 1
    try:
        got = check_value(x, tp, "k")
    except ConfigError as exc:
        assert not ok and str(exc).startswith("k: ") and "\n" not in str(exc)
    else:
        if isinstance(x, str):  # YAML 1.1 numbers in strings ("1e-3") are read as numbers
            x = float(x)
        assert 0 <= got < 1 and got == float(x)
