"""Image lists for extract / index build: folder layout parsing, manifests, empty input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inference.tiny import write_gallery
from vireid.errors import DatasetError
from vireid.inference.sources import collect_records, parse_ids


@pytest.mark.parametrize(
    "rel, ids",
    [
        ("cam3/0007/0001.jpg", (7, 3)),
        ("x/camera_2/12/a.png", (12, 2)),
        ("4/0001/a.png", (1, 4)),
        ("people/0001/a.png", (1, -1)),
        ("a.png", (-1, -1)),
        ("cam1/bob/a.png", (-1, -1)),
    ],
)
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
    (tmp_path / "m.csv").write_text(
        f"path,pid,camid,modality\n{paths[0].relative_to(tmp_path)},5,1,visible\n{paths[1]},6,2,Infrared\n"
    )
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


def _tiny(layout, root):
    from vireid.data.synth import generate

    generate(root, layout, num_ids=5, num_test_ids=2, images_per_id_per_cam=1, height_range=(40, 48))
    return root


@pytest.mark.parametrize("marker", [True, False])
def test_sysu_root_takes_each_cameras_modality_from_the_layout(tmp_path, marker):
    root = _tiny("sysu", tmp_path / "sysu")
    if not marker:  # a real SYSU-MM01 folder has no synth.json: exp/ and cam<N>/ identify it
        (root / "synth.json").unlink()
    records, note = collect_records(root, "visible")
    assert records and {r.camid for r in records} <= {1, 2, 4, 5} and {r.modality for r in records} == {"visible"}
    assert "skipped" in note and "infrared" in note and "SYSU-MM01" in note
    ir, _ = collect_records(root, "infrared")
    assert {r.camid for r in ir} <= {3, 6} and {r.modality for r in ir} == {"infrared"}
    assert len(ir) + len(records) == len(list(root.rglob("*.jpg")))
    with pytest.raises(DatasetError, match=r"cam3: holds infrared images only.*contradicts the layout"):
        collect_records(root / "cam3", "visible")


def test_camera_ids_come_from_the_layout_wherever_the_folder_is(tmp_path):
    root = _tiny("sysu", tmp_path / "sysu")
    records, note = collect_records(root / "cam1", "visible")
    assert note == "" and {r.camid for r in records} == {1}
    deeper, _ = collect_records(next((root / "cam4").iterdir()), "visible")  # one identity's folder
    assert {r.camid for r in deeper} == {4} and len({r.pid for r in deeper}) == 1


@pytest.mark.parametrize(
    "layout, folder, modality, camids",
    [
        ("llcm", "test_nir", "infrared", None),
        ("regdb", "Thermal", "infrared", {2}),
        ("regdb", "Visible", "visible", {1}),
    ],
)
def test_llcm_and_regdb_folders(tmp_path, layout, folder, modality, camids):
    root = _tiny(layout, tmp_path / layout)
    other = "visible" if modality == "infrared" else "infrared"
    with pytest.raises(DatasetError, match="contradicts the layout"):
        collect_records(root / folder, other)
    records, _ = collect_records(root / folder, modality.upper().lower())
    assert records and {r.modality for r in records} == {modality}
    assert camids is None or {r.camid for r in records} == camids
    assert all(r.camid > 0 for r in records)


def test_a_link_to_nothing_in_a_folder_is_named_as_the_link(tmp_path):
    """It named the link's target (``/nonexist.jpg: image file not found``), a path the user never gave."""
    import pytest

    from vireid.errors import DatasetError

    write_gallery(tmp_path, pids=(1,), cams=(1,))
    (tmp_path / "d.jpg").symlink_to(tmp_path / "nowhere.jpg")
    with pytest.raises(
        DatasetError, match=rf"^{tmp_path / 'd.jpg'}: is a link to .*nowhere\.jpg, which does not exist"
    ):
        collect_records(tmp_path, "visible")


def test_linked_folders_are_followed_once_each(tmp_path):
    """A gallery assembled from links to camera folders: the images behind the links are read (the
    camera still from the layout the link sits in), a link back up the tree ends there, and two
    links to one folder give its images once."""
    root = _tiny("sysu", tmp_path / "sysu")
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    (gallery / "cam3").symlink_to(root / "cam3")
    (gallery / "again").symlink_to(root / "cam3")
    (gallery / "loop").symlink_to(gallery)
    records, _ = collect_records(gallery, "infrared")
    want = sorted((root / "cam3").rglob("*.jpg"))
    assert sorted(Path(r.path) for r in records) == want and {r.camid for r in records} == {3}
    linked = tmp_path / "sysu_linked"
    linked.mkdir()
    (linked / "cam3").symlink_to(root / "cam3")  # inside no layout: the folder name gives the camera
    assert {r.camid for r in collect_records(linked, "infrared")[0]} == {3}
