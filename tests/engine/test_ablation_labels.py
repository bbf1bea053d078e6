"""Labels declared in the grid (``VALUE:LABEL``, ``KEY:TITLE=``): the report's names, never a setting."""

import string

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from vireid.config import load_config
from vireid.config.shipped import CONFIG_DIR as CONFIGS
from vireid.engine.ablation import (
    combinations,
    overrides,
    parse_grid,
    run_ablation,
    slug,
    split_grid,
    split_label,
)
from vireid.errors import ConfigError

# YAML flow values a grid holds: scalars and (nested) lists, none with a colon of its own
scalars = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(-10, 10, allow_nan=False).map(lambda x: f"{x:g}"),
    st.sampled_from(["true", "false", "null", "dee", "tmhee", "stage0", "1.0e-4"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, min_size=1, max_size=3).map(lambda v: f"[{','.join(v)}]"))
labels = st.text(string.ascii_letters + string.digits + " .+-()", min_size=1, max_size=20).map(str.strip).filter(bool)


@given(values, labels)
def test_a_label_never_changes_the_value(value, label):
    assert split_label(value) == (value, None)
    assert split_label(f"{value}:{label}") == (value, label)
    assert yaml.safe_load(split_label(f"{value}:{label}")[0]) == yaml.safe_load(value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[tmhee,0]:T-MHEE", ("[tmhee,0]", "T-MHEE")),
        ("1:1 stage-4 block", ("1", "1 stage-4 block")),
        ("[true,previous]:MFA: from the previous stage", ("[true,previous]", "MFA: from the previous stage")),
        ("{a: 1}", ("{a: 1}", None)),  # a YAML mapping: its colon is inside braces
        ("a: 1", ("a: 1", None)),  # colon + space: YAML's mapping, not a label
        ('"x:y"', ('"x:y"', None)),  # a quoted value keeps its colon
        ('"x:y":Quoted', ('"x:y"', "Quoted")),
    ],
)
def test_split_label_cases(text, expected):
    assert split_label(text) == expected


def test_labels_and_titles_are_stripped_before_anything_runs():
    items = ["optim.lr:Which LR?=0.1:ten percent,0.01:one percent", "loss.cpm_weight=0,0.8:CPM on"]
    grid = parse_grid(items)
    clean, names = split_grid(grid)
    assert clean == {"optim.lr": ["0.1", "0.01"], "loss.cpm_weight": ["0", "0.8"]}
    assert names.titles == {"optim.lr": "Which LR?"}
    assert names.cell({"optim.lr": "0.01"}) == "one percent" and names.cell({"loss.cpm_weight": "0"}) == "cpm_weight=0"
    assert names.title("loss.cpm_weight") == "cpm_weight"
    for labelled, plain in zip(combinations(grid, "each"), combinations(clean, "each"), strict=True):
        assert overrides(labelled) == overrides(plain) and slug(labelled) == slug(plain)


@pytest.mark.parametrize(
    "grid, message",
    [
        ({"optim.lr": ["0.1:a", "0.01:a"]}, "gives the label 'a' to two values"),
        ({"optim.lr": ["0.1:a", "0.1:b"]}, "lists the value 0.1 twice"),
        ({"optim.lr:A": ["0.1", "0.2"], "optim.lr:B": ["0.3", "0.4"]}, "given twice"),
        ({"optim.lr": [":x", "0.2"]}, "has a label but no value"),
    ],
)
def test_bad_labels_are_refused(grid, message):
    with pytest.raises(ConfigError, match=message):
        split_grid(grid)


def test_run_ablation_reports_the_labels(tmp_path):
    from tests.engine.test_ablation import _fake_train

    base = load_config(CONFIGS / "test_tiny.yaml", ["optim.lr=0.1"])
    grid = {"optim.lr:Which LR?": ["0.1:LR 0.1", "0.01:LR 0.01"]}
    rows = run_ablation(base, grid, tmp_path, seeds=[0, 1], mode="each", train_fn=_fake_train, log=lambda s: None)
    assert [(r["label"], r["title"], r["axis"]) for r in rows] == [
        ("LR 0.1", "Which LR?", "optim.lr"),
        ("LR 0.01", "Which LR?", "optim.lr"),
    ]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["lr-0.01", "lr-0.1"]  # folders: values only
    md = (tmp_path / "ablation.md").read_text()
    assert md.splitlines()[1].startswith("| cell | optim.lr |") and "| LR 0.01 | 0.01 |" in md  # after the mark
