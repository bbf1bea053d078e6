"""Paper-scale synthetic datasets: the official counts, exact in the plan and through the readers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from vireid.cli.main import main
from vireid.data.datasets import LLCM, SYSUMM01, RegDB
from vireid.data.synth import ensure_dataset, generate, read_meta
from vireid.data.synth.paper import allocate, paper_counts, paper_plan, parse_scale
from vireid.errors import ConfigError

# (ids, train ids, test ids, train visible, train infrared, test visible, test infrared)
OFFICIAL = {
    "sysu": (491, 395, 96, 22258, 11909, 6775, 3803),
    "regdb": (412, 206, 206, 2060, 2060, 2060, 2060),
    "llcm": (1064, 713, 351, 16946, 13975, 8680, 7166),
}


@pytest.mark.parametrize("layout", sorted(OFFICIAL))
def test_full_plan_has_the_official_counts(layout):
    plan = paper_plan(layout, 0, 1.0)
    c = paper_counts(layout)
    got = (c.num_ids, c.train_ids, c.test_ids, c.train_visible, c.train_infrared, c.test_visible, c.test_infrared)
    assert got == OFFICIAL[layout]
    test = set(plan.test_ids)
    n = Counter((j.modality, j.pid in test) for j in plan.jobs)
    assert (n["visible", False], n["infrared", False], n["visible", True], n["infrared", True]) == got[3:]
    assert len(plan.train_ids) + len(plan.val_ids) == c.train_ids and len(plan.test_ids) == c.test_ids
    assert len({j.relpath for j in plan.jobs}) == len(plan.jobs)


def test_sysu_split_and_galleries_as_published():
    plan = paper_plan("sysu", 0, 1.0)
    assert (len(plan.train_ids), len(plan.val_ids), len(plan.test_ids)) == (296, 99, 96)
    test = set(plan.test_ids)
    pairs = {(j.pid, j.camid) for j in plan.jobs if j.pid in test and j.modality == "visible"}
    indoor = {p for p in pairs if p[1] in (1, 2)}
    assert len(pairs) == 301 and len(indoor) == 112 and len({p for p, _ in indoor}) == 56
    train = {j.pid for j in plan.jobs if j.pid not in test}
    assert all(  # every training identity has both modalities (the sampler draws only those)
        {j.modality for j in plan.jobs if j.pid == pid} == {"visible", "infrared"} for pid in list(train)[:50]
    )


def test_scale_is_paper_or_a_fraction():
    assert parse_scale("paper") == 1.0 and parse_scale("0.25") == 0.25
    for bad in ("0", "-1", "1.5", "big", None):
        with pytest.raises(ConfigError, match="scale"):
            parse_scale(bad)
    small = paper_counts("sysu", 0.1)
    assert (small.train_ids, small.test_ids, small.train_visible, small.test_infrared) == (40, 10, 2226, 380)


@given(st.integers(1, 300), st.integers(0, 3000), st.integers(0, 2**32 - 1))
def test_allocate_sums_and_gives_each_at_least_one(n, extra, seed):
    counts = allocate(n + extra, n, np.random.default_rng(seed))
    assert len(counts) == n and sum(counts) == n + extra and min(counts) >= 1


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    base = tmp_path_factory.mktemp("paper")
    scales = {"sysu": 0.005, "regdb": 0.01, "llcm": 0.005}
    return {k: (generate(base / k, k, scale=s, seed=1), s) for k, s in scales.items()}


def test_readers_see_the_counts_at_a_fraction(small):
    (s, scale) = small["sysu"]
    c = paper_counts("sysu", scale)
    sysu = SYSUMM01(s.root)
    train = Counter(r.modality for r in sysu.train)
    assert (train["visible"], train["infrared"]) == (c.train_visible, c.train_infrared)
    assert len(sysu.query()) == c.test_infrared
    assert s.num_images == c.num_images == len(list(s.root.rglob("*.jpg")))
    (s, scale) = small["llcm"]
    c = paper_counts("llcm", scale)
    llcm = LLCM(s.root)
    train = Counter(r.modality for r in llcm.train)
    assert (train["visible"], train["infrared"]) == (c.train_visible, c.train_infrared)
    assert (len(llcm.query("visible")), len(llcm.query("infrared"))) == (c.test_visible, c.test_infrared)
    (s, scale) = small["regdb"]
    c = paper_counts("regdb", scale)
    for trial in (1, 10):
        regdb = RegDB(s.root, trial=trial)
        assert len(regdb.train) == c.train_visible + c.train_infrared
        assert len(regdb.test("visible")) == len(regdb.test("infrared")) == c.test_visible


def test_two_processes_write_the_same_bytes(small, tmp_path):
    import hashlib

    s, scale = small["regdb"]
    again = generate(tmp_path / "two", "regdb", scale=scale, seed=1, workers=2)

    def digest(root):
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "synth.json")
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    assert digest(again.root) == digest(s.root)


def test_crop_sizes(small):
    for p in list(small["regdb"][0].root.rglob("*.bmp"))[:6]:
        assert Image.open(p).size == (64, 128)
    heights = [Image.open(p).size[1] for p in list(small["sysu"][0].root.rglob("*.jpg"))[:40]]
    assert 192 <= min(heights) and max(heights) <= 448 and max(heights) - min(heights) > 50


def test_settings_recorded_and_cached(small, tmp_path):
    s, scale = small["regdb"]
    meta = read_meta(s.root)
    assert meta["params"]["scale"] == scale and meta["params"]["width"] == 64
    again = ensure_dataset(s.root, "regdb", scale=scale, seed=1)
    assert again.cached and again.num_images == s.num_images
    with pytest.raises(ConfigError, match="num_ids"):
        generate(tmp_path / "x", "sysu", scale="paper", num_ids=10)
    assert not (tmp_path / "x").exists()


def test_cli_scale(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["synth", "--layout", "regdb", "--scale", "0.01", "--out", str(out), "--workers", "1"]) == 0
    assert "80 images" in capsys.readouterr().out
    for args, word in (
        (["--scale", "paper", "--num-ids", "5"], "--num-ids cannot be set"),
        (["--scale", "2"], "scale"),
    ):
        assert main(["synth", "--layout", "sysu", "--out", str(tmp_path / "bad"), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and word in err[0] and not (tmp_path / "bad").exists()
    assert main(["synth", "--layout", "sysu", "--out", str(tmp_path / "bad"), "--scale", "paper", "--max-height", "90"])
    assert "crop sizes" in capsys.readouterr().err


@given(layout=st.sampled_from(["sysu", "regdb", "llcm"]), scale=st.floats(1e-6, 0.003))
def test_a_fraction_too_small_is_one_config_error(layout, scale):
    """Any fraction gives a plan or a ConfigError naming the scale -- never another exception."""
    try:
        plan = paper_plan(layout, 0, scale)
    except ConfigError as e:
        assert str(e).startswith(f"scale {scale:g}: too small for the {layout} layout")
    else:
        assert plan.jobs and plan.train_ids and plan.test_ids
