"""The one JSON decoder (:func:`vireid.utils.jsonio.json_loads`): bad text is one JSONError line naming
where it was read, never a RecursionError, and nesting is capped before parsing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vireid.errors import JSONError, VireidError
from vireid.utils.jsonio import MAX_JSON_DEPTH, json_depth, json_loads

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("text", [DEEP, '{"a": ' * 100_000 + "1" + "}" * 100_000, "[" * 100_000])
def test_deep_json_is_one_line_naming_where_never_a_recursion_error(text):
    with pytest.raises(JSONError, match=r"^x\.safetensors: metadata 'config': JSON nested too deeply") as info:
        json_loads(text, "x.safetensors: metadata 'config'")
    assert info.value.too_deep and "\n" not in str(info.value)


def test_the_cap_is_exact_and_brackets_in_strings_do_not_count():
    at_cap = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_loads(at_cap, "f") == json.loads(at_cap)
    with pytest.raises(JSONError, match=f"more than {MAX_JSON_DEPTH} levels"):
        json_loads("[" + at_cap + "]", "f")
    tricky = json.dumps({"path": "a[" * 500 + '\\"{' * 300, "n": [[1]]})
    assert json_loads(tricky, "f")["n"] == [[1]]
    assert json_loads(tricky.encode(), "f")["path"].startswith("a[a[")


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            "{garbage",
            r"f\.json: not valid JSON \(Expecting property name enclosed in double quotes at line 1 column 2\)",
        ),
        ("", r"f\.json: not valid JSON \(Expecting value at line 1 column 1\)"),
        (b"\xff\xfe{}", r"f\.json: not text \(not UTF-8\)"),
        ('{"a": 1, "a": 2}', r"f\.json: not valid JSON \(key 'a' is given twice\)"),
    ],
)
def test_bad_json_names_the_file_and_what_was_expected(data, said):
    def once(pairs):
        if len({k for k, _ in pairs}) < len(pairs):
            raise ValueError(f"key {pairs[-1][0]!r} is given twice")
        return dict(pairs)

    with pytest.raises(JSONError, match=rf"^{said}; expected a thing$") as info:
        json_loads(data, "f.json", expected="a thing", object_pairs_hook=once)
    err = info.value
    assert isinstance(err, VireidError) and isinstance(err, ValueError) and not err.too_deep
    assert err.where == "f.json" and str(err) == f"f.json: {err.why}; expected a thing"


def test_a_key_given_twice_is_refused_by_default():
    """Whatever the file (an index's index.json, a run's last.json, a checkpoint's metadata), a key
    given twice is ambiguous: ``json`` would keep the last silently."""
    with pytest.raises(JSONError, match=r"^i\.json: not valid JSON \(key 'vireid' is given twice\)$"):
        json_loads('{"vireid": {"kind": "index"}, "n": [{"a": 1}], "vireid": "abc"}', "i.json")
    with pytest.raises(JSONError, match=r"key 'a' is given twice"):
        json_loads('{"n": [{"a": 1, "a": 1}]}', "i.json")  # at any depth, even with one value
    assert json_loads('{"a": {"a": 1}}', "i.json") == {"a": {"a": 1}}  # one key per object


@given(st.recursive(st.none() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)))
def test_the_depth_scan_agrees_with_the_value(value):
    def depth(v):
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        return 0

    text = json.dumps(value, ensure_ascii=False)
    assert json_depth(text) == depth(value)
    assert json_loads(text, "f") == value
