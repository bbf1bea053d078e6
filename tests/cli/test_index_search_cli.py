"""``vireid index build`` + ``vireid search``: round trip, scores = the API's, and every refusal."""

from __future__ import annotations

import json

import pytest

import vireid
from tests.inference.tiny import deen_checkpoint, write_gallery
from vireid.cli.main import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    ckpt = deen_checkpoint(root)
    gallery = write_gallery(root / "gallery", pids=(1, 2, 3), cams=(1, 2))
    queries = write_gallery(root / "queries", pids=(1, 2), cams=(3,), seed=5, gray=True)
    index = root / "gallery.index"
    assert (
        main(
            [
                "index",
                "build",
                "--checkpoint",
                str(ckpt),
                "--gallery",
                str(root / "gallery"),
                "--modality",
                "visible",
                "--out",
                str(index),
                "--no-progress",
            ]
        )
        == 0
    )
    return root, ckpt, gallery, queries, index


def search(args, capsys):
    rc = main(["search", *map(str, args)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_round_trip_json_matches_the_api(setup, capsys):
    root, ckpt, gallery, queries, index = setup
    assert sorted((index).iterdir()) == [index / "feats.safetensors", index / "index.json"]
    rc, out, err = search(
        ["--index", index, "--query", *queries, "--modality", "infrared", "--topk", "4", "--json"], capsys
    )
    assert rc == 0, err
    doc = json.loads(out)
    model = vireid.load_model(ckpt)
    q = model.embed(queries, "infrared")
    g = model.embed(sorted(str(p.resolve()) for p in gallery), "visible")
    scores = q @ g.T
    for i, entry in enumerate(doc["queries"]):
        hits = entry["results"]
        assert [h["rank"] for h in hits] == [1, 2, 3, 4]
        top = scores[i].topk(4)
        assert [h["index"] for h in hits] == top.indices.tolist()
        assert [h["score"] for h in hits] == pytest.approx(top.values.tolist(), abs=1e-5)
        assert {"path", "pid", "camid"} <= set(hits[0])


def test_text_output_and_explicit_checkpoint(setup, capsys):
    root, ckpt, gallery, queries, index = setup
    rc, out, _ = search(
        ["--index", index, "--query", queries[0], "--modality", "infrared", "--checkpoint", ckpt, "--topk", "2"], capsys
    )
    assert rc == 0 and out.count("\n") == 4 and "rank" in out and str(root / "gallery") in out


def test_wrong_modality_is_refused(setup, capsys):
    root, ckpt, gallery, queries, index = setup
    rc, out, err = search(["--index", index, "--query", queries[0], "--modality", "visible"], capsys)
    assert rc == 2 and "cross-modal" in err and out == ""
    assert "needs --modality infrared (got --modality visible)" in err


def test_query_from_another_model_is_refused(setup, capsys, tmp_path):
    root, ckpt, gallery, queries, index = setup
    other = deen_checkpoint(tmp_path, seed=1)
    rc, _, err = search(
        ["--index", index, "--query", queries[0], "--modality", "infrared", "--checkpoint", other], capsys
    )
    assert rc == 2 and "another model" in err
    rc, _, err = search(
        [
            "--index",
            index,
            "--query",
            queries[0],
            "--modality",
            "infrared",
            "--checkpoint",
            ckpt,
            "--input-size",
            "96x32",
        ],
        capsys,
    )
    assert rc == 2 and "another model" in err  # same weights, another preprocessing config


def test_bad_index_and_query(setup, capsys, tmp_path):
    root, ckpt, gallery, queries, index = setup
    rc, _, err = search(["--index", tmp_path, "--query", queries[0], "--modality", "infrared"], capsys)
    assert rc == 2 and "not a vireid index" in err
    (tmp_path / "x.jpg").write_text("nope")
    rc, _, err = search(["--index", index, "--query", tmp_path / "x.jpg", "--modality", "infrared"], capsys)
    assert rc == 2 and "x.jpg" in err and "Traceback" not in err


def test_build_refuses_foreign_folders_and_replaces_an_index(setup, capsys, tmp_path):
    root, ckpt, gallery, queries, index = setup
    base = [
        "index",
        "build",
        "--checkpoint",
        str(ckpt),
        "--gallery",
        str(root / "queries"),
        "--modality",
        "infrared",
        "--no-progress",
        "--out",
    ]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    assert main(base + [str(foreign)]) == 2
    assert "not a gallery index vireid wrote" in capsys.readouterr().err
    assert (foreign / "keep.txt").read_text() == "precious"
    (tmp_path / "empty").mkdir()
    assert main([*base[:5], str(tmp_path / "empty"), *base[6:], str(tmp_path / "idx")]) == 2
    assert not (tmp_path / "idx").exists()
    copy = tmp_path / "copy.index"
    assert main(base + [str(copy)]) == 0
    first = json.loads((copy / "index.json").read_text())
    assert first["modality"] == "infrared" and len(first["entries"]) == 2
    base[7] = "visible"
    base[5] = str(root / "gallery")
    assert main(base + [str(copy)]) == 0  # an existing index is replaced
    assert json.loads((copy / "index.json").read_text())["modality"] == "visible"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_resaved_copy_of_the_same_model_is_accepted(setup, capsys, tmp_path):
    """The index identifies the model by its tensors: DEEN.save of the same weights (another file, other
    metadata, other bytes) searches the index; a model with other weights is still refused."""
    from vireid.models import DEEN
    from vireid.models.weights import read_weights, save_weights

    root, ckpt, gallery, queries, index = setup
    tensors, meta = read_weights(ckpt)
    copy = tmp_path / "copy.safetensors"
    model = DEEN.from_checkpoint(ckpt)
    save_weights(model, copy, {**meta, "step": 1234, "note": "copied to another machine"})
    plain = tmp_path / "plain.safetensors"
    model.save(plain)  # no run config: the input size is given on the command line
    for path, extra in ((copy, []), (plain, ["--input-size", "64x32"])):
        assert path.read_bytes() != ckpt.read_bytes()
        rc, out, err = search(
            ["--index", index, "--query", queries[0], "--modality", "IR", "--checkpoint", path, *extra, "--json"],
            capsys,
        )
        assert rc == 0, err
    from tests.inference.tiny import deen_checkpoint as other_ckpt

    other = other_ckpt(tmp_path, seed=7)
    rc, _, err = search(
        ["--index", index, "--query", queries[0], "--modality", "infrared", "--checkpoint", other], capsys
    )
    assert rc == 2 and "another model" in err


def test_index_folder_has_ordinary_permissions(setup):
    from vireid.utils.io import current_umask

    root, ckpt, gallery, queries, index = setup
    assert (index.stat().st_mode & 0o777) == 0o777 & ~current_umask()


def _build(setup, out, *extra):
    root, ckpt, gallery, queries, index = setup
    args = ["index", "build", "--checkpoint", ckpt, "--gallery", root / "gallery", "--modality", "visible"]
    return main([*map(str, args), "--out", str(out), "--no-progress", *map(str, extra)])


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--nlist", "3"], "--nlist 3: only the faiss-ivf backend has lists; this is backend 'exact'"),
        (["--backend", "faiss-flat", "--nlist", "2"], "--nlist 2: only the faiss-ivf backend has lists"),
        (["--backend", "faiss-ivf", "--nlist", "100"], "--nlist 100: more lists than the gallery's 6 images"),
    ],
)
def test_nlist_that_cannot_apply_is_refused(setup, capsys, tmp_path, extra, said):
    """``--nlist`` on an exhaustive backend, or above the gallery's size, was ignored or clamped
    without a word; now one line, before any image is embedded, and nothing written."""
    out = tmp_path / "g.index"
    assert _build(setup, out, *extra) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_nprobe_that_cannot_apply_is_said(setup, capsys, tmp_path):
    """``search --nprobe`` on an exact index, or above an IVF index's lists, warns in one line
    (the search still runs); not given, or within the lists, it says nothing."""
    root, ckpt, gallery, queries, index = setup
    ivf = tmp_path / "ivf.index"
    assert _build(setup, ivf, "--backend", "faiss-ivf", "--nlist", "2") == 0
    assert json.loads((ivf / "index.json").read_text())["nlist"] == 2
    capsys.readouterr()
    base = ["--query", queries[0], "--modality", "infrared", "--json"]
    cases = [
        (index, ["--nprobe", "4"], "--nprobe 4 is ignored: this index (backend exact) is searched exhaustively"),
        (ivf, ["--nprobe", "5"], "--nprobe 5 is more than the index's 2 lists; all 2 are visited"),
        (ivf, ["--nprobe", "2"], None),
        (ivf, [], None),
        (index, [], None),
    ]
    for folder, extra, said in cases:
        rc, out, err = search(["--index", folder, *base, *extra], capsys)
        assert rc == 0, err
        assert json.loads(out)["queries"][0]["results"]
        if said is None:
            assert "warning" not in err, err
        else:
            assert err.strip() == f"vireid search: warning: {said}"
