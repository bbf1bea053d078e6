"""Synthetic benchmark generator: layouts, determinism, image properties, caching, atomicity."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vireid.data.synth import ensure_dataset, generate, read_meta
from vireid.errors import ConfigError, DatasetError, VireidError

TINY = dict(num_ids=8, images_per_id_per_cam=2, height_range=(48, 64))


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("synth")
    out = {}
    for layout in ("sysu", "regdb", "llcm"):
        generate(base / layout, layout, seed=3, **TINY)
        out[layout] = base / layout
    return out


def _images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".jpg", ".bmp"))


def _read_ids(path: Path) -> list[int]:
    lines = path.read_text().splitlines()
    assert len(lines) == 1, f"{path} must hold one line"
    return [int(x) for x in lines[0].split(",")]


def test_sysu_layout(datasets):
    root = datasets["sysu"]
    assert sorted(p.name for p in root.iterdir()) == [f"cam{c}" for c in range(1, 7)] + [
        "exp",
        "synth.json",
        "synth_files.txt",
    ]
    train, val, test = (_read_ids(root / "exp" / f"{n}_id.txt") for n in ("train", "val", "test"))
    assert sorted(train + val + test) == list(range(1, 9)) and len(test) == 3 and len(val) == 1
    for img in _images(root):
        rel = img.relative_to(root).as_posix()
        assert re.fullmatch(r"cam[1-6]/\d{4}/\d{4}\.jpg", rel), rel
    for pid in range(1, 9):  # every identity has both modalities
        assert any((root / f"cam{c}" / f"{pid:04d}").is_dir() for c in (1, 2, 4, 5))
        assert any((root / f"cam{c}" / f"{pid:04d}").is_dir() for c in (3, 6))
    assert sorted(os.listdir(root / "cam3" / os.listdir(root / "cam3")[0])) == ["0001.jpg", "0002.jpg"]


def test_regdb_layout(datasets):
    root = datasets["regdb"]
    names = sorted(p.name for p in (root / "idx").iterdir())
    assert names == sorted(
        f"{s}_{m}_{t}.txt" for s in ("train", "test") for m in ("visible", "thermal") for t in range(1, 11)
    )
    for img in _images(root):
        rel = img.relative_to(root).as_posix()
        m = re.fullmatch(r"(Visible|Thermal)/(\d+)/(male|female)_(front|back)_([vt])_(\d{5})_(\d+)\.bmp", rel)
        assert m, rel
        assert m.group(2) == m.group(7) and (m.group(1) == "Visible") == (m.group(5) == "v")
    for trial in (1, 7):
        split_ids = {}
        for split in ("train", "test"):
            vis = (root / "idx" / f"{split}_visible_{trial}.txt").read_text().splitlines()
            th = (root / "idx" / f"{split}_thermal_{trial}.txt").read_text().splitlines()
            assert len(vis) == len(th) == 4 * 2
            for line in vis + th:
                rel, label = line.split(" ")
                assert (root / rel).is_file() and 0 <= int(label) < 4
            split_ids[split] = {int(line.split(" ")[0].split("/")[1]) for line in vis}
            # pairs: the k-th visible and thermal images share identity, serial and view
            assert [v.replace("Visible", "").replace("_v_", "_") for v in vis] == [
                t.replace("Thermal", "").replace("_t_", "_") for t in th
            ]
        assert split_ids["train"].isdisjoint(split_ids["test"]) and len(split_ids["train"]) == 4
    assert (root / "idx" / "train_visible_1.txt").read_text() != (root / "idx" / "train_visible_2.txt").read_text()


def test_llcm_layout(datasets):
    root = datasets["llcm"]
    test_ids = _read_ids(root / "idx" / "test_id.txt")
    assert sorted(os.listdir(root / "test_nir")) and "cam3" not in os.listdir(root / "test_nir")
    for p in (root / "test_vis").iterdir():
        assert re.fullmatch(r"cam[1-9]", p.name)
    train_ids = set()
    for name, folder in (("train_vis.txt", "train_vis"), ("train_nir.txt", "train_nir")):
        for line in (root / "idx" / name).read_text().splitlines():
            rel, label = line.split(" ")
            assert re.fullmatch(folder + r"/cam[1-9]/(\d{4})/\1_c0[1-9]_f\d{4}_(vis|nir)\.jpg", rel), rel
            assert (root / rel).is_file()
            train_ids.add((int(rel.split("/")[2]), int(label)))
    pids = sorted({p for p, _ in train_ids})
    assert sorted(train_ids) == [(p, i) for i, p in enumerate(pids)]  # labels 0..C-1 in id order
    assert set(pids).isdisjoint(test_ids) and sorted(pids + test_ids) == list(range(1, 9))
    test_dirs = {int(p.name) for p in (root / "test_vis").glob("cam*/*")} | {
        int(p.name) for p in (root / "test_nir").glob("cam*/*")
    }
    assert test_dirs == set(test_ids)


@pytest.mark.parametrize("layout", ["sysu", "regdb", "llcm"])
def test_readers_accept_generated_layouts(datasets, layout):
    from vireid.data.datasets import build_dataset

    ds = build_dataset(layout, datasets[layout])
    assert ds.train and {r.modality for r in ds.train} == {"visible", "infrared"}
    split = next(iter(ds.eval_splits(trials=[0] if layout != "regdb" else None)))
    assert split.query and split.gallery
    assert {r.modality for r in split.query} != {r.modality for r in split.gallery}
    assert all(Path(r.path).is_file() for r in split.query + split.gallery)


def test_same_seed_same_bytes_other_seed_differs(datasets, tmp_path):
    again = generate(tmp_path / "again", "sysu", seed=3, **TINY)
    assert _tree_digest(again.root) == _tree_digest(datasets["sysu"])
    other = generate(tmp_path / "other", "sysu", seed=4, **TINY)
    a, b = _tree_digest(other.root), _tree_digest(datasets["sysu"])
    common = set(a) & set(b)
    assert sum(a[k] != b[k] for k in common) > 0.9 * len(common)


def test_two_workers_write_the_same_bytes(datasets, tmp_path):
    par = generate(tmp_path / "par", "llcm", seed=3, workers=2, **TINY)
    assert _tree_digest(par.root) == _tree_digest(datasets["llcm"])


def test_image_sizes_and_infrared_grey(datasets):
    checked = 0
    for layout, root in datasets.items():
        for path in _images(root):
            with Image.open(path) as img:
                assert img.mode == "RGB"
                w, h = img.size
                assert 48 <= h <= 64 and 1.7 <= h / w <= 2.4, (path, img.size)
                if layout == "sysu":
                    infrared = path.parts[-3] in ("cam3", "cam6")
                else:
                    infrared = any(part in ("Thermal", "train_nir", "test_nir") for part in path.parts)
                if infrared:
                    a = np.asarray(img)
                    assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2]), path
                    checked += 1
    assert checked > 100


def test_llcm_has_low_light_visible_images(datasets):
    meta = read_meta(datasets["llcm"])
    assert meta["num_low_light"] > 0 and read_meta(datasets["sysu"])["num_low_light"] == 0

    def mean_brightness(paths):
        return float(np.mean([np.asarray(Image.open(p)).mean() for p in paths]))

    llcm_vis = [p for p in _images(datasets["llcm"]) if "_vis" in p.parts[-4]]
    sysu_vis = [p for p in _images(datasets["sysu"]) if p.parts[-3] in ("cam1", "cam2", "cam4", "cam5")]
    assert mean_brightness(llcm_vis) < mean_brightness(sysu_vis) - 10
    darkest = sorted(np.asarray(Image.open(p)).mean() for p in llcm_vis)[0]
    assert darkest < 50


def test_difficulty_changes_statistics(tmp_path):
    easy = generate(
        tmp_path / "easy", "sysu", seed=1, difficulty=0.0, num_ids=6, images_per_id_per_cam=3, height_range=(64, 64)
    )
    hard = generate(
        tmp_path / "hard", "sysu", seed=1, difficulty=1.0, num_ids=6, images_per_id_per_cam=3, height_range=(64, 64)
    )
    assert easy.num_occluded == 0 and hard.num_occluded > 0

    def roughness(root):  # mean absolute difference of horizontally adjacent pixels (noise + edges)
        return float(
            np.mean(
                [np.abs(np.diff(np.asarray(Image.open(p), dtype=np.float32), axis=1)).mean() for p in _images(root)]
            )
        )

    assert roughness(hard.root) > roughness(easy.root) * 1.2


def test_bad_parameters_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="layout"):
        generate(tmp_path / "x", "market")
    with pytest.raises(ConfigError, match="difficulty"):
        generate(tmp_path / "x", "sysu", difficulty=1.5)
    with pytest.raises(ConfigError, match="num_ids"):
        generate(tmp_path / "x", "sysu", num_ids=2)
    with pytest.raises(ConfigError, match="height_range"):
        generate(tmp_path / "x", "sysu", height_range=(100, 50))
    with pytest.raises(ConfigError, match="num_test_ids"):
        generate(tmp_path / "x", "sysu", num_test_ids=7, **TINY)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("layout,files", [("sysu", ["exp/test_id.txt"]), ("llcm", ["idx/test_id.txt"])])
def test_num_test_ids_sets_the_split(tmp_path, layout, files):
    summary = generate(tmp_path / layout, layout, seed=3, num_test_ids=2, **TINY)
    assert len(summary.test_ids) == 2 and len(_read_ids(tmp_path / layout / files[0])) == 2
    assert summary.params["num_test_ids"] == 2
    assert "num_test_ids" not in generate(tmp_path / "default", layout, seed=3, **TINY).params


def test_refuses_non_empty_out_unless_forced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(VireidError, match="not empty"):
        generate(out, "sysu", **TINY)
    with pytest.raises(VireidError, match="not a synthetic dataset vireid wrote"):  # not even with force
        generate(out, "sysu", force=True, **TINY)
    assert (out / "keep.txt").read_text() == "user data"
    ours = tmp_path / "ours"
    generate(ours, "sysu", **TINY)
    with pytest.raises(DatasetError, match="; set force=True to replace it$"):
        generate(ours, "sysu", seed=9, **TINY)
    generate(ours, "sysu", seed=9, force=True, **TINY)  # one vireid wrote: replaced when asked
    assert json.loads((ours / "synth.json").read_text())["params"]["seed"] == 9


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    import vireid.data.synth.generator as gen

    calls = {"n": 0}
    real = gen.render_job

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(gen, "render_job", failing)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "out", "sysu", **TINY)
    assert os.listdir(tmp_path) == []


def test_ensure_dataset_caches_by_parameters(tmp_path):
    root = tmp_path / "cache"
    first = ensure_dataset(root, "sysu", seed=5, **TINY)
    assert not first.cached and first.num_images > 0
    marker = root / "cam1" / "marker.txt"
    marker.write_text("x")  # survives only if the dataset is reused
    second = ensure_dataset(root, "sysu", seed=5, **TINY)
    assert second.cached and marker.exists() and second.num_images == first.num_images
    assert second.test_ids == first.test_ids
    with pytest.raises(DatasetError, match=r"other settings \(seed 5 \(wanted 6\)\).*data.synth.force=true"):
        ensure_dataset(root, "sysu", seed=6, **TINY)  # never replaced unless asked
    assert marker.exists()
    with pytest.raises(
        VireidError, match="marker.txt, which is not among the files vireid wrote"
    ):  # force removes only its own
        ensure_dataset(root, "sysu", seed=6, force=True, **TINY)
    assert marker.read_text() == "x"
    marker.unlink()
    third = ensure_dataset(root, "sysu", seed=6, force=True, **TINY)
    assert not third.cached and third.params["seed"] == 6
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "a.txt").write_text("x")
    with pytest.raises(DatasetError, match="synth.json"):
        ensure_dataset(foreign, "sysu", **TINY)


def test_dataset_folder_has_ordinary_permissions(tmp_path):
    from vireid.utils.io import current_umask

    out = tmp_path / "ds"
    generate(out, "regdb", **TINY)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~current_umask()
    assert json.loads((out / "synth.json").read_text())["made_by"] == "vireid synth"


def test_force_removes_only_the_files_the_dataset_lists(tmp_path):
    out = tmp_path / "ds"
    generate(out, "sysu", **TINY)
    (out / "myruns").mkdir()
    (out / "myruns" / "r1.txt").write_text("mine")
    (out / "NOTES.txt").write_text("mine")
    with pytest.raises(VireidError, match="NOTES.txt, myruns/, which are not among the files vireid wrote"):
        generate(out, "sysu", seed=3, force=True, **TINY)
    assert (out / "NOTES.txt").read_text() == "mine" and (out / "myruns" / "r1.txt").read_text() == "mine"
    shutil.rmtree(out / "myruns")
    (out / "NOTES.txt").unlink()
    (out / "synth_files.txt").unlink()  # a dataset of an older vireid: its files follow from its settings
    generate(out, "sysu", seed=3, force=True, **TINY)
    assert read_meta(out)["params"]["seed"] == 3 and not list(tmp_path.glob(".*"))  # nothing left beside it
