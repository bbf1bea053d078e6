import os

import pytest

from tests.data.layouts import make_regdb
from vireid.data.datasets import RegDB, build_dataset
from vireid.errors import ConfigError, DatasetError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_regdb(tmp_path_factory.mktemp("regdb"))


def test_train_split_of_the_trial(root):
    for trial in (1, 2):
        ds = RegDB(root, trial=trial)
        train = ds.train
        assert len(train) == 2 * 3 * 2  # 3 ids x 2 images x 2 modalities
        assert {r.modality for r in train} == {"visible", "infrared"}
        assert sorted({r.pid for r in train}) == [0, 1, 2]  # labels of the index file
        assert all(r.camid == (1 if r.modality == "visible" else 2) for r in train)
        assert all(os.path.isabs(r.path) and os.path.isfile(r.path) for r in train)
    t1 = {r.path for r in RegDB(root, trial=1).train}
    t2 = {r.path for r in RegDB(root, trial=2).train}
    assert t1.isdisjoint(t2)  # in this layout the trials use the two halves of the ids


def test_both_directions_swap_query_and_gallery(root):
    ds = RegDB(root, trial=1)
    v2t, t2v = list(ds.eval_splits())
    assert (v2t.direction, t2v.direction) == ("visible_to_infrared", "infrared_to_visible")
    assert v2t.protocol == t2v.protocol == "regdb" and v2t.trial == t2v.trial == 1
    assert v2t.query == t2v.gallery and v2t.gallery == t2v.query
    assert {r.modality for r in v2t.query} == {"visible"} and {r.modality for r in v2t.gallery} == {"infrared"}
    assert len(v2t.gallery) == 6  # the whole test split of the other modality
    only = list(ds.eval_splits(directions=["infrared_to_visible"]))
    assert len(only) == 1 and only[0] == t2v
    other = list(ds.eval_splits(trials=[2]))
    assert other[0].trial == 2 and {r.path for r in other[0].query}.isdisjoint({r.path for r in v2t.query})


def test_bad_inputs(tmp_path, root):
    with pytest.raises(ConfigError, match="1..10"):
        RegDB(root, trial=0)
    with pytest.raises(DatasetError, match=r"train_visible_3\.txt: missing index file"):
        RegDB(root, trial=3)
    bad = make_regdb(tmp_path / "bad", trials=(1,))
    path = bad / "idx" / "test_visible_1.txt"
    lines = path.read_text().splitlines()
    lines[2] = lines[2] + " extra"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"test_visible_1\.txt:3: expected 'relative/path label'"):
        RegDB(bad, trial=1)
    path.write_text("/abs/path.bmp 1\n")
    with pytest.raises(DatasetError, match=r"test_visible_1\.txt:1: expected a path relative"):
        RegDB(bad, trial=1)
    path.write_text("\n\n")
    with pytest.raises(DatasetError, match="lists no images"):
        RegDB(bad, trial=1)
    with pytest.raises(ConfigError, match=r"^data\.mode: unknown option of RegDB; expected one of: trial$"):
        build_dataset("regdb", root, mode="all")
