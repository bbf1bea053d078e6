import json
import os
from pathlib import Path

import pytest

from tests.data.layouts import SYSU_TEST, SYSU_TRAIN, SYSU_VAL, make_sysu, sysu_count
from vireid.data.datasets import SYSUMM01, build_dataset
from vireid.errors import ConfigError, DatasetError

GOLDEN = json.loads((Path(__file__).parents[2] / "fixtures" / "data_gallery_golden.json").read_text())


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_sysu(tmp_path_factory.mktemp("sysu"))


def _rel(root, records):
    return [[os.path.relpath(r.path, root), r.pid, r.camid] for r in records]


def test_train_is_train_plus_val_ids_by_modality(root):
    ds = SYSUMM01(root)
    train = ds.train
    assert {r.pid for r in train} == set(SYSU_TRAIN + SYSU_VAL)
    vis = [r for r in train if r.modality == "visible"]
    ir = [r for r in train if r.modality == "infrared"]
    assert {r.camid for r in vis} <= {1, 2, 4, 5} and {r.camid for r in ir} <= {3, 6}
    expect_vis = sum(sysu_count(p, c) for p in SYSU_TRAIN + SYSU_VAL for c in (1, 2, 4, 5))
    expect_ir = sum(sysu_count(p, c) for p in SYSU_TRAIN + SYSU_VAL for c in (3, 6))
    assert (len(vis), len(ir)) == (expect_vis, expect_ir)
    assert all(os.path.isabs(r.path) and os.path.isfile(r.path) for r in train)
    # ids and cameras come from folder names
    assert all(
        Path(r.path).parent.name == f"{r.pid:04d}" and Path(r.path).parents[1].name == f"cam{r.camid}" for r in train
    )


def test_query_and_gallery_match_authors_code(root):
    """Same query list and same random gallery draws as DEEN's data_manager.py (golden run)."""
    for mode in ("all", "indoor"):
        splits = list(SYSUMM01(root, mode=mode).eval_splits(trials=range(10)))
        assert [s.trial for s in splits] == list(range(10))
        for s in splits:
            assert s.protocol == "sysu" and s.direction == "infrared_to_visible"
            assert _rel(root, s.query) == GOLDEN["sysu_query"]
            assert _rel(root, s.gallery) == GOLDEN[f"sysu_gallery_{mode}"][s.trial]
            assert {r.modality for r in s.query} == {"infrared"} and {r.modality for r in s.gallery} == {"visible"}


def test_gallery_single_shot_composition_and_trials(root):
    ds = SYSUMM01(root, mode="all")
    g0 = ds.gallery(0)
    keys = [(r.pid, r.camid) for r in g0]
    expected = [(p, c) for p in sorted(SYSU_TEST, key=lambda x: f"{x:04d}") for c in (1, 2, 4, 5) if sysu_count(p, c)]
    assert keys == expected  # one image per existing (id, camera), in the authors' order
    assert [r.path for r in ds.gallery(0)] == [r.path for r in g0]  # deterministic
    assert any([r.path for r in ds.gallery(t)] != [r.path for r in g0] for t in range(1, 10))
    indoor = SYSUMM01(root, mode="indoor").gallery(0)
    assert {r.camid for r in indoor} == {1, 2} and len(indoor) < len(g0)


def test_multi_shot_draws_up_to_ten(root):
    g = SYSUMM01(root, shot="multi").gallery(3)
    per = {}
    for r in g:
        per[(r.pid, r.camid)] = per.get((r.pid, r.camid), 0) + 1
    assert all(per[(p, c)] == min(10, sysu_count(p, c)) for p, c in per)
    assert len(set(r.path for r in g)) == len(g)


def test_options_and_directions(root):
    with pytest.raises(ConfigError, match="mode"):
        SYSUMM01(root, mode="outdoor")
    with pytest.raises(ConfigError, match="shot"):
        SYSUMM01(root, shot="few")
    with pytest.raises(ConfigError, match="infrared_to_visible"):
        next(SYSUMM01(root).eval_splits(directions=["visible_to_infrared"]))
    assert isinstance(build_dataset("sysu", root, mode="indoor"), SYSUMM01)


def test_bad_inputs(tmp_path, root):
    with pytest.raises(DatasetError, match="not found"):
        SYSUMM01(tmp_path / "nope")
    bad = make_sysu(tmp_path / "bad")
    (bad / "exp" / "val_id.txt").unlink()
    with pytest.raises(DatasetError, match=r"val_id\.txt: missing"):
        SYSUMM01(bad)
    (bad / "exp" / "val_id.txt").write_text("5\n")
    (bad / "exp" / "test_id.txt").write_text("6,7\n8,x9\n")
    with pytest.raises(DatasetError, match=r"test_id\.txt:2: id must be an integer, got 'x9' \(expected"):
        SYSUMM01(bad)
    (bad / "exp" / "test_id.txt").write_text("\n")
    with pytest.raises(DatasetError, match="empty id list"):
        SYSUMM01(bad)
    (bad / "exp" / "test_id.txt").write_text("99\n")  # id without any folder
    with pytest.raises(DatasetError, match="no infrared query images"):
        next(SYSUMM01(bad).eval_splits())
