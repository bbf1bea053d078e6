import json
import os
from pathlib import Path

import pytest

from tests.data.layouts import LLCM_TEST, LLCM_TRAIN, llcm_count, make_llcm
from vireid.data.datasets import LLCM
from vireid.errors import ConfigError, DatasetError

GOLDEN = json.loads((Path(__file__).parents[2] / "fixtures" / "data_gallery_golden.json").read_text())


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_llcm(tmp_path_factory.mktemp("llcm"))


def _rel(root, records):
    return [[os.path.relpath(r.path, root), r.pid, r.camid] for r in records]


def test_train_from_index_files(root):
    train = LLCM(root).train
    vis = [r for r in train if r.modality == "visible"]
    ir = [r for r in train if r.modality == "infrared"]
    assert len(vis) == len(ir) == 3 * len(LLCM_TRAIN)
    assert {r.pid for r in train} == set(LLCM_TRAIN.values())
    assert sorted({r.camid for r in vis}) == [1, 2, 3]  # parsed from the camN folder
    assert all(os.path.isfile(r.path) and "train_nir" in r.path for r in ir)


def test_splits_match_authors_code_in_both_directions(root):
    """Query lists and per-trial galleries equal DEEN's process_query/gallery_llcm (golden run).

    The empty ``test_nir/cam4/0001`` folder is skipped (the authors' code would crash on it).
    """
    splits = list(LLCM(root).eval_splits(trials=range(10)))
    assert [(s.direction, s.trial) for s in splits] == (
        [("infrared_to_visible", t) for t in range(10)] + [("visible_to_infrared", t) for t in range(10)]
    )
    for s in splits:
        q_mod, g_mod = ("infrared", "visible") if s.direction == "infrared_to_visible" else ("visible", "infrared")
        assert s.protocol == "llcm"
        assert _rel(root, s.query) == GOLDEN[f"llcm_query_{q_mod}"]
        assert _rel(root, s.gallery) == GOLDEN[f"llcm_gallery_{g_mod}"][s.trial]
        assert {r.modality for r in s.query} == {q_mod} and {r.modality for r in s.gallery} == {g_mod}


def test_published_visible_to_infrared_orientation(root):
    """``visible_to_infrared_paper``: the authors' test.py with test_mode [2, 1] scores the transposed
    matrix, so the trial's sampled infrared images (their gallery) are the queries and every visible
    test image (their query list) the gallery."""
    splits = list(LLCM(root).eval_splits(trials=range(10), directions=["visible_to_infrared_paper"]))
    assert [(s.direction, s.trial) for s in splits] == [("visible_to_infrared_paper", t) for t in range(10)]
    for s in splits:
        assert _rel(root, s.query) == GOLDEN["llcm_gallery_infrared"][s.trial]
        assert _rel(root, s.gallery) == GOLDEN["llcm_query_visible"]
    with pytest.raises(ConfigError, match="direction"):
        list(LLCM(root).eval_splits(directions=["sideways"]))


def test_gallery_one_per_id_camera_and_no_ir_cam3(root):
    ds = LLCM(root)
    g = ds.gallery("infrared", 0)
    keys = [(r.pid, r.camid) for r in g]
    assert len(keys) == len(set(keys))
    assert 3 not in {r.camid for r in g}
    assert set(keys) == {(p, c) for p in LLCM_TEST for c in range(1, 10) if llcm_count(p, c, "infrared")}
    assert 3 in {r.camid for r in ds.query("visible")}
    assert [r.path for r in ds.gallery("visible", 5)] == [r.path for r in ds.gallery("visible", 5)]
    assert any(
        [r.path for r in ds.gallery("visible", t)] != [r.path for r in ds.gallery("visible", 0)] for t in range(1, 10)
    )


def test_bad_inputs(tmp_path):
    with pytest.raises(DatasetError, match="LLCM root not found"):
        LLCM(tmp_path / "missing")
    root = make_llcm(tmp_path / "llcm")
    (root / "idx" / "train_nir.txt").unlink()
    with pytest.raises(DatasetError, match=r"train_nir\.txt: missing index file"):
        LLCM(root)
    (root / "idx" / "train_nir.txt").write_text("train_nir/cam1/0020/000.jpg 0\ntrain_nir/cam1/0020/001.jpg\n")
    with pytest.raises(DatasetError, match=r"train_nir\.txt:2: expected 'relative/path label'"):
        LLCM(root)
    (root / "idx" / "train_nir.txt").write_text("train_nir/cam1/0020/000.jpg zero\n")
    with pytest.raises(DatasetError, match=r"train_nir\.txt:1: label must be an integer, got 'zero'"):
        LLCM(root)
    (root / "idx" / "train_nir.txt").write_text("../outside.jpg 0\n")
    with pytest.raises(DatasetError, match=r"train_nir\.txt:1: path '../outside.jpg' points outside"):
        LLCM(root)
    (root / "idx" / "train_nir.txt").write_text("train_nir/cam1/0020/000.jpg 0\n")
    with pytest.raises(ConfigError, match="direction"):
        next(LLCM(root).eval_splits(directions=["up"]))
