"""config.paths: a run stores its paths absolute; an older file's relative ones resolve against it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vireid.config import load_config
from vireid.config.paths import absolute_paths, is_path, stored_paths
from vireid.config.shipped import CONFIG_DIR
from vireid.errors import ConfigError

BASE = load_config(CONFIG_DIR / "test_tiny.yaml")


def with_root(root: str):
    from vireid.config import apply_overrides

    return apply_overrides(BASE, [f"data.root={root}"])


def test_absolute_paths_resolve_against_the_folder_given(tmp_path):
    cfg = absolute_paths(with_root("data/x"), tmp_path)
    assert cfg.data.root == str(tmp_path / "data" / "x")
    assert absolute_paths(cfg, "/elsewhere").data.root == cfg.data.root  # absolute stays
    assert is_path("model.pretrained", "weights/r50.pth") and not is_path("model.pretrained", "imagenet")
    assert absolute_paths(BASE).model.pretrained == BASE.model.pretrained  # a name is not a path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(1, 4), at=st.integers(0, 4), name=st.from_regex(r"[a-z]{1,6}", fullmatch=True))
def test_a_stored_relative_path_resolves_against_the_nearest_folder_holding_it(tmp_path, depth, at, name):
    top = Path(tmp_path) / os.urandom(6).hex()
    folder = top.joinpath(*[f"d{i}" for i in range(depth)])
    folder.mkdir(parents=True)
    stored = folder / "config.yaml"
    at = min(at, depth)
    holder = folder.parents[at - 1] if at else folder  # the folder where data/NAME exists
    (holder / "data" / name).mkdir(parents=True)
    got = stored_paths(with_root(f"data/{name}"), stored)
    assert got.data.root == str(holder / "data" / name)
    with pytest.raises(ConfigError, match="relative path 'data/gone'.*pass data.root=PATH"):
        stored_paths(with_root("data/gone"), stored)
    assert stored_paths(with_root("data/gone"), stored, skip=("data.root",)).data.root == "data/gone"
