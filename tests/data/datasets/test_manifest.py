import os

import pytest

from tests.data.layouts import write_image
from vireid.data.datasets import DATASETS, ManifestDataset, build_dataset, read_manifest
from vireid.errors import ConfigError, DatasetError


def _dataset(root):
    for name in ("a.jpg", "b.jpg", "c.png", "d.png"):
        write_image(root / "imgs" / name)
    (root / "train.csv").write_text("path,pid,camid,modality\nimgs/a.jpg,7,1,visible\nimgs/c.png,7,2,INFRARED\n")
    (root / "query.csv").write_text("modality,path,camid,pid,note\ninfrared,imgs/d.png,2,8,x\n\n")
    (root / "gallery.csv").write_text("path,pid,camid,modality\nimgs/b.jpg,8,1,visible\n")
    return root


def test_manifest_dataset(tmp_path):
    ds = build_dataset("manifest", _dataset(tmp_path))
    train = ds.train
    assert [(r.pid, r.camid, r.modality) for r in train] == [(7, 1, "visible"), (7, 2, "infrared")]
    assert train[0].path == os.path.join(str(tmp_path.resolve()), "imgs", "a.jpg")  # relative to the CSV folder
    (split,) = list(ds.eval_splits())
    assert split.direction == "infrared_to_visible" and split.protocol == "llcm" and split.trial == 0
    assert [r.pid for r in split.query] == [8] and [r.camid for r in split.gallery] == [1]
    assert ManifestDataset(tmp_path, protocol="regdb").rules.name == "regdb"


def test_manifest_bad_inputs(tmp_path):
    root = _dataset(tmp_path)
    bad = root / "bad.csv"
    cases = [
        ("path,pid,camid\nx.jpg,1,1\n", r"bad\.csv:1: header must name the columns .*missing modality"),
        ("path,pid,camid,modality\nx.jpg,one,1,visible\n", r"bad\.csv:2: pid must be an integer, got 'one'"),
        (
            "path,pid,camid,modality\nimgs/a.jpg,1,1,visible\nimgs/b.jpg,1,1,uv\n",
            r"bad\.csv:3: unknown modality 'uv'; accepted, in any case -- visible: visible, vis, rgb .*"
            r"infrared: infrared, ir, nir, thermal",
        ),
        ("path,pid,camid,modality\nx.jpg,1\n", r"bad\.csv:2: expected 4 or more fields"),
        ("path,pid,camid,modality\nx.jpg,1,-2,visible\n", r"bad\.csv:2: camid must be non-negative"),
        ("path,pid,camid,modality\n", r"bad\.csv: manifest lists no images"),
        ("", r"bad\.csv: empty manifest"),
    ]
    for text, pattern in cases:
        bad.write_text(text)
        with pytest.raises(DatasetError, match=pattern):
            read_manifest(bad)
    with pytest.raises(DatasetError, match="manifest file not found"):
        read_manifest(root / "none.csv")
    (root / "gallery.csv").unlink()
    with pytest.raises(DatasetError, match=r"gallery\.csv: missing gallery manifest"):
        ManifestDataset(root)
    with pytest.raises(DatasetError, match="no manifest found"):
        ManifestDataset(root / "imgs")
    with pytest.raises(ConfigError, match="protocol"):
        ManifestDataset(root, protocol="market")


def test_factory():
    assert set(DATASETS) == {"sysu", "regdb", "llcm", "manifest"}
    with pytest.raises(ConfigError, match="unknown dataset 'market1501'; expected one of sysu, regdb, llcm"):
        build_dataset("market1501", "/tmp")


def test_duplicate_and_extra_field_rows_are_errors(tmp_path):
    root = _dataset(tmp_path)
    bad = root / "bad.csv"
    bad.write_text(
        "path,pid,camid,modality\nimgs/a.jpg,7,1,visible\nimgs/b.jpg,7,1,visible\n./imgs/a.jpg,7,1,visible\n"
    )
    with pytest.raises(DatasetError, match=r"bad\.csv:4: .*a\.jpg is listed twice \(first on line 2\)"):
        read_manifest(bad)
    bad.write_text("path,pid,camid,modality\nimgs/a.jpg,7,1,visible\nimgs/my,photo.jpg,7,1,visible\n")
    with pytest.raises(DatasetError, match=r"bad\.csv:3: 5 fields, but the header names 4.*comma in a path"):
        read_manifest(bad)


def test_modality_aliases_in_any_case(tmp_path):
    root = _dataset(tmp_path)
    ok = root / "ok.csv"
    ok.write_text("path,pid,camid,modality\nimgs/a.jpg,7,1,RGB\nimgs/b.jpg,7,2,IR\nimgs/c.png,8,2,Thermal\n")
    assert [r.modality for r in read_manifest(ok)] == ["visible", "infrared", "infrared"]


def test_a_manifest_saved_by_excel_with_a_bom_is_read(tmp_path):
    write_image(tmp_path / "imgs" / "a.jpg")
    text = "path,pid,camid,modality\nimgs/a.jpg,7,1,visible\n"
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # UTF-8 with a byte-order mark
    (rec,) = read_manifest(tmp_path / "excel.csv")
    assert (rec.pid, rec.camid, rec.modality) == (7, 1, "visible")


def test_a_row_whose_image_is_missing_names_the_manifest_line(tmp_path):
    """It named the image alone, at the first read (mid-epoch); now the manifest's line, when read."""
    import pytest

    from tests.data.layouts import write_image
    from vireid.data.datasets.manifest import read_manifest
    from vireid.errors import DatasetError

    write_image(tmp_path / "a.jpg")
    (tmp_path / "m.csv").write_text("path,pid,camid,modality\na.jpg,1,1,visible\ngone.jpg,2,2,infrared\n")
    with pytest.raises(DatasetError, match=r"m\.csv:3: 'gone\.jpg': image file not found"):
        read_manifest(tmp_path / "m.csv")


def test_a_column_named_twice_in_the_header_is_refused(tmp_path):
    """``path,pid,camid,modality,PATH`` read the first ``path`` and ignored the second, silently."""
    root = _dataset(tmp_path)
    bad = root / "bad.csv"
    bad.write_text("path,pid,camid,modality,PATH\nimgs/a.jpg,7,1,visible,imgs/b.jpg\n")
    with pytest.raises(DatasetError, match=r"bad\.csv:1: the header names the column path twice"):
        read_manifest(bad)
