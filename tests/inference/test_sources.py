"""Image lists for extract / index build: folder layout parsing, manifests, empty input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inference.tiny import write_gallery
from vireid.errors import DatasetError
from vireid.inference.sources import collect_records, parse_ids


@pytest.mark.parametrize("rel, ids", [
    ("cam3/0007/0001.jpg", (7, 3)),
    ("x/camera_2/12/a.png", (12, 2)),
    ("4/0001/a.png", (1, 4)),
    ("people/0001/a.png", (1, -1)),
    ("a.png", (-1, -1)),
    ("cam1/bob/a.png", (-1, -1)),
])
def test_parse_ids(rel, ids):
    assert parse_ids(Path(rel)) == ids


def test_folder_records_sorted_recursive_skips_hidden_and_non_images(tmp_path):
    write_gallery(tmp_path, pids=(2, 1), cams=(1,))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.png").write_bytes(b"")
    records, note = collect_records(tmp_path, "visible")
    assert note == ""
    assert [(r.pid, r.camid) for r in records] == [(1, 1), (2, 1)]
    assert all(Path(r.path).is_absolute() and r.modality == "visible" for r in records)


def test_manifest_keeps_the_requested_modality(tmp_path):
    paths = write_gallery(tmp_path, pids=(1, 2), cams=(1,))
    (tmp_path / "m.csv").write_text("path,pid,camid,modality\n"
                                    f"{paths[0].relative_to(tmp_path)},5,1,visible\n"
                                    f"{paths[1]},6,2,Infrared\n")
    records, note = collect_records(tmp_path / "m.csv", "infrared")
    assert [(r.pid, r.camid, r.path) for r in records] == [(6, 2, str(paths[1]))]
    assert "skipped 1" in note
    with pytest.raises(DatasetError, match="no visible images"):
        (tmp_path / "ir.csv").write_text(f"path,pid,camid,modality\n{paths[1]},6,2,infrared\n")
        collect_records(tmp_path / "ir.csv", "visible")


def test_empty_and_missing_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        collect_records(tmp_path / "empty", "visible")
    with pytest.raises(DatasetError, match="no such folder"):
        collect_records(tmp_path / "nope", "visible")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DatasetError, match="CSV manifest"):
        collect_records(tmp_path / "x.txt", "visible")
