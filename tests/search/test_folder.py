"""Index folders are checked when read: every way a file can be wrong is one line naming the file
(exit 2 through ``vireid search``), through the one reader every load goes through."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vireid.cli.main import main
from vireid.errors import VireidError
from vireid.search import GalleryIndex
from vireid.search.folder import load_index_dir

N, D = 40, 16


def _index(folder: Path, backend: str = "exact", **kw) -> Path:
    g = torch.Generator().manual_seed(0)
    gal = F.normalize(torch.randn(N, D, generator=g), dim=1)
    entries = [{"path": f"/data/img{i}.jpg", "pid": i % 5, "camid": 1} for i in range(N)]
    model = {"weights_sha256": "w", "config_sha256": "c", "descriptor": D, "checkpoint": "/x/ckpt.safetensors"}
    nlist = 4 if backend == "faiss-ivf" else 0
    GalleryIndex(gal, entries, modality="visible", model_id=model, backend=backend, nlist=nlist, **kw).save(folder)
    return folder


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return _index(tmp_path_factory.mktemp("ix") / "good.index")


def _meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / "index.json").read_text())
    for key, value in changes.items():
        if value is _DROP:
            meta.pop(key)
        else:
            meta[key] = value
    (folder / "index.json").write_text(json.dumps(meta))


_DROP = object()
ENTRY = {"path": "a.jpg", "pid": 1, "camid": 1}


def _feats(folder: Path, tensors: dict, dtype=None) -> None:
    from safetensors.torch import save_file

    save_file({k: v.to(dtype) if dtype else v for k, v in tensors.items()}, str(folder / "feats.safetensors"))


def _nan(folder: Path) -> None:
    x = torch.randn(N, D)
    x[7, 3] = float("nan")
    _feats(folder, {"feats": x})


def _header_length(folder: Path, n: int) -> None:
    p = folder / "feats.safetensors"
    p.write_bytes(struct.pack("<Q", n) + p.read_bytes()[8:])


# (case, how to break a copy of a good index folder, what the one line must say)
CASES = [
    ("json-list", lambda f: (f / "index.json").write_text("[1, 2]"), "expected a JSON object"),
    ("json-invalid", lambda f: (f / "index.json").write_text('{"format": '), "index.json: not valid JSON"),
    (
        "json-deep",
        lambda f: (f / "index.json").write_text("[" * 100000 + "]" * 100000),
        "index.json: JSON nested too deeply",
    ),
    ("json-not-utf8", lambda f: (f / "index.json").write_bytes(b"\xff\xfe{}"), "index.json: not text (not UTF-8)"),
    ("no-entries", lambda f: _meta(f, entries=_DROP), "'entries' must be a list, got nothing"),
    ("entries-dict", lambda f: _meta(f, entries={"a": 1}), "'entries' must be a list"),
    ("entry-no-pid", lambda f: _meta(f, entries=[{"path": "a.jpg", "camid": 1}] * N), "'entries[0]'"),
    ("entry-str-pid", lambda f: _meta(f, entries=[ENTRY] * 3 + [{**ENTRY, "pid": "1"}] * (N - 3)), "'entries[3]'"),
    ("entry-bool-camid", lambda f: _meta(f, entries=[{**ENTRY, "camid": True}] * N), "'entries[0]'"),
    ("entries-count", lambda f: _meta(f, entries=[ENTRY] * (N - 1)), f"{N - 1} entries, but"),
    ("version-99", lambda f: _meta(f, version=99), "version 99 is not one this vireid reads"),
    ("version-str", lambda f: _meta(f, version="1"), "'version' must be an integer"),
    ("version-missing", lambda f: _meta(f, version=_DROP), "'version' must be an integer, got nothing"),
    ("format", lambda f: _meta(f, format="other"), "not a vireid index"),
    ("modality", lambda f: _meta(f, modality="thermal"), "'modality'"),
    ("backend", lambda f: _meta(f, backend="annoy"), "'backend'"),
    ("nlist", lambda f: _meta(f, nlist=-1), "'nlist'"),
    ("model-list", lambda f: _meta(f, model=[1]), "'model' must be an object"),
    ("model-checkpoint", lambda f: _meta(f, model={"checkpoint": 3}), "'model.checkpoint'"),
    ("model-descriptor", lambda f: _meta(f, model={"descriptor": D + 1}), "model.descriptor is"),
    ("feats-missing", lambda f: (f / "feats.safetensors").unlink(), "missing feats.safetensors"),
    ("feats-no-feats", lambda f: _feats(f, {"other": torch.zeros(N, D)}), "no 'feats' tensor"),
    ("feats-float64", lambda f: _feats(f, {"feats": torch.zeros(N, D)}, torch.float64), "must be float32"),
    ("feats-3d", lambda f: _feats(f, {"feats": torch.zeros(N, D, 1)}), "shape (N, D)"),
    ("feats-nan", _nan, "row 7 contains NaN or inf"),
    ("feats-truncated", lambda f: _truncate(f / "feats.safetensors", 100), "truncated"),
    ("feats-extended", lambda f: _append(f / "feats.safetensors"), "longer than its header says"),
    ("feats-garbage", lambda f: (f / "feats.safetensors").write_bytes(os.urandom(64)), "not a safetensors file"),
    ("feats-header-huge", lambda f: _header_length(f, 1 << 62), "header of"),
    ("feats-empty", lambda f: (f / "feats.safetensors").write_bytes(b""), "not a safetensors file"),
]


def _truncate(path: Path, by: int) -> None:
    path.write_bytes(path.read_bytes()[:-by])


def _append(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\0" * 8)


def _broken(tmp_path: Path, good: Path, breaker) -> Path:
    folder = tmp_path / "broken.index"
    shutil.copytree(good, folder)
    breaker(folder)
    return folder


@pytest.mark.parametrize("case,breaker,message", CASES, ids=[c[0] for c in CASES])
def test_a_broken_index_is_one_line_naming_the_file(case, breaker, message, good, tmp_path, capsys):
    folder = _broken(tmp_path, good, breaker)
    with pytest.raises(VireidError, match=None) as info:
        GalleryIndex.load(folder)
    text = str(info.value)
    assert message in text and str(folder) in text and "\n" not in text
    rc = main(["search", "--index", str(folder), "--query", "q.jpg", "--modality", "infrared"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.strip().count("\n") == 0 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "kind,said",
    [
        ("missing", "not found; expected a vireid index folder (made by `vireid index build`)"),
        ("file", "is a file, not a vireid index folder (made by `vireid index build`)"),
        ("dangling-link", "which does not exist; expected a vireid index folder"),
        ("folder", "not a vireid index (missing index.json)"),
    ],
)
def test_a_path_that_is_no_index_folder_says_what_it_is(kind, said, tmp_path, capsys):
    """Not "missing index.json" for a path that does not exist or is a file: what the path is."""
    path = tmp_path / "gallery.index"
    if kind == "file":
        path.write_text("notes\n")
    elif kind == "dangling-link":
        path.symlink_to(tmp_path / "nowhere")
    elif kind == "folder":
        path.mkdir()
    with pytest.raises(VireidError) as info:
        GalleryIndex.load(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and said in text and "\n" not in text
    assert ("index.json" in text) == (kind == "folder")
    rc = main(["search", "--index", str(path), "--query", "q.jpg", "--modality", "infrared"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.strip().count("\n") == 0 and said in err and str(path) in err


FAISS_CASES = [
    ("faiss-truncated", lambda f: _truncate(f / "faiss.index", 40), "not a readable faiss index"),
    ("faiss-garbage", lambda f: (f / "faiss.index").write_bytes(b"IxFI" + os.urandom(200)), "faiss.index"),
    ("faiss-missing", lambda f: (f / "faiss.index").unlink(), "has no faiss.index"),
    ("faiss-other-kind", lambda f: _meta(f, backend="faiss-ivf"), "IndexIVFFlat"),
]


@pytest.mark.parametrize("case,breaker,message", FAISS_CASES, ids=[c[0] for c in FAISS_CASES])
def test_a_broken_faiss_index_is_one_line(case, breaker, message, tmp_path_factory, tmp_path, capsys):
    pytest.importorskip("faiss")
    good = _index(tmp_path_factory.mktemp("flat") / "flat.index", backend="faiss-flat")
    folder = _broken(tmp_path, good, breaker)
    with pytest.raises(VireidError) as info:
        GalleryIndex.load(folder)
    assert message in str(info.value) and str(folder) in str(info.value)
    assert main(["search", "--index", str(folder), "--query", "q.jpg", "--modality", "infrared"]) == 2
    assert message in capsys.readouterr().err


def test_a_faiss_length_field_cannot_make_faiss_allocate_more_than_the_file(tmp_path_factory, tmp_path):
    """An IndexFlatIP whose code vector claims 2^39 bytes: refused without allocating them."""
    pytest.importorskip("faiss")
    good = _index(tmp_path_factory.mktemp("flat") / "flat.index", backend="faiss-flat")
    folder = _broken(tmp_path, good, lambda f: None)
    raw = bytearray((folder / "faiss.index").read_bytes())
    at = len(raw) - N * D * 4 - 8  # the codes vector: its length in floats (uint64), then its bytes
    assert struct.unpack("<Q", raw[at : at + 8])[0] == N * D
    raw[at : at + 8] = struct.pack("<Q", 1 << 37)
    (folder / "faiss.index").write_bytes(bytes(raw))
    with pytest.raises(VireidError, match="not a readable faiss index.*byte_limit"):
        GalleryIndex.load(folder)  # refused by the limit set to the file's size, before any allocation


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(["format", "version", "modality", "backend", "nlist", "model", "entries", "extra"]),
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=8,
    ),
)
def test_any_value_of_any_key_loads_or_is_refused_in_one_line(key, value, good, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz") / "ix"
    shutil.copytree(good, folder)
    _meta(folder, **{key: value})
    try:
        index = GalleryIndex.load(folder)
    except VireidError as exc:
        assert "\n" not in str(exc) and str(folder) in str(exc)
    else:
        assert len(index.entries) == N


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["feats.safetensors", "index.json"]), keep=st.floats(0, 1, exclude_max=True))
def test_a_file_cut_anywhere_is_refused_in_one_line(name, keep, good, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cut") / "ix"
    shutil.copytree(good, folder)
    path = folder / name
    data = path.read_bytes()
    path.write_bytes(data[: int(keep * (len(data) - 2))])  # index.json ends in "}\n": the brace goes too
    with pytest.raises(VireidError) as info:
        GalleryIndex.load(folder)
    assert "\n" not in str(info.value) and str(folder) in str(info.value)


def test_every_load_goes_through_the_folder_reader(good, monkeypatch):
    """GalleryIndex.load is the folder reader (so a fuzzer of the reader covers every load)."""
    import vireid.search.folder as folder

    seen = []
    monkeypatch.setattr(folder, "read_index_json", lambda d, real=folder.read_index_json: seen.append(d) or real(d))
    GalleryIndex.load(good)
    GalleryIndex.load(good, mmap=True, scan="fp32")
    assert seen == [good, good] and load_index_dir(good).entries == GalleryIndex.load(good).entries


def test_a_file_truncated_while_in_use_is_an_error_not_sigbus(tmp_path):
    """An index left on disk (mmap=True) whose feats file is cut while it is in use: the next
    search says so in one line (a memory map would have killed the process with SIGBUS)."""
    folder = _index(tmp_path / "ix")
    q = F.normalize(torch.randn(3, D), dim=1)
    for scan in ("bf16", "fp32"):
        index = GalleryIndex.load(folder, mmap=True, scan=scan)
        assert index.search(q, 5).indices.shape == (3, 5)
        feats = folder / "feats.safetensors"
        keep = feats.read_bytes()
        with open(feats, "r+b") as fh:
            fh.truncate(200)
        with pytest.raises(VireidError, match="cut short while in use"):
            index.search(q, 5)
        feats.write_bytes(keep)


def test_checkpoint_paths_are_stored_absolute_and_old_relative_ones_resolve(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "ckpt.safetensors").write_bytes(b"x")
    gal = F.normalize(torch.randn(N, D), dim=1)
    entries = [{"path": f"img{i}.jpg", "pid": 1, "camid": 1} for i in range(N)]
    GalleryIndex(gal, entries, modality="visible", model_id={"checkpoint": "runs/ckpt.safetensors"}).save("ix")
    stored = json.loads((tmp_path / "ix" / "index.json").read_text())["model"]["checkpoint"]
    assert stored == str(tmp_path / "runs" / "ckpt.safetensors")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert GalleryIndex.load(tmp_path / "ix").model_id["checkpoint"] == stored
    # an index written before: relative to the index folder first, else to the current folder
    _meta(tmp_path / "ix", model={"checkpoint": "../runs/ckpt.safetensors"})
    assert GalleryIndex.load(tmp_path / "ix").model_id["checkpoint"] == stored
    _meta(tmp_path / "ix", model={"checkpoint": "runs/ckpt.safetensors"})
    monkeypatch.chdir(tmp_path)
    assert GalleryIndex.load("ix").model_id["checkpoint"] == stored
    monkeypatch.chdir(elsewhere)
    assert GalleryIndex.load(tmp_path / "ix").model_id["checkpoint"] == str(
        tmp_path / "ix" / "runs" / "ckpt.safetensors"
    )


def test_float64_input_is_converted_and_float32_input_is_not_copied():
    gal = F.normalize(torch.randn(N, D), dim=1)
    entries = [ENTRY] * N
    assert GalleryIndex(gal, entries, modality="visible").feats.data_ptr() == gal.data_ptr()
    index = GalleryIndex(gal.double(), entries, modality="visible")
    assert index.feats.dtype == torch.float32 and np.array_equal(index.feats.numpy(), gal.numpy())


def test_an_index_s_files_carry_their_own_marks(good, tmp_path):
    """Its descriptors carried no mark (``extract --out INDEX/feats.safetensors`` took them for the
    user's, and replaced them with ``--overwrite``) and its index.json was marked "staged"."""
    from vireid.data.synth import generate
    from vireid.utils.marks import written_kind

    assert written_kind(good / "feats.safetensors") == "index-feats"
    assert json.loads((good / "index.json").read_text())["vireid"]["kind"] == "index-meta"
    assert written_kind(good / "index.json") == "index-meta"
    generate(tmp_path / "ds", "sysu", num_ids=4, images_per_id_per_cam=1, height_range=(32, 40))
    assert written_kind(tmp_path / "ds" / "synth.json") == "synth-meta"
    legacy = tmp_path / "old.json"  # an index.json of a vireid that marked it "staged"
    legacy.write_text(json.dumps({"format": "vireid-index", "vireid": {"kind": "staged", "version": "0.1.0"}}))
    assert written_kind(legacy) == "index-meta"
