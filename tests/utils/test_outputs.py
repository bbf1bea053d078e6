"""The output policy's rules, one by one and as properties over generated paths and contents.

For every file kind and every content found at the path (nothing, an empty file, a user's bytes,
a file vireid wrote as any kind), :func:`check_file` allows exactly: nothing or an empty file;
vireid's own file of the same kind; a user's file with ``--overwrite``.  A vireid file of another
kind, a path in a dataset, an input and a suffix of another kind are refused whatever the flags.
The writers of :mod:`vireid.utils.io` apply the same rule and leave a refused path as it was.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vireid.data.datasets  # noqa: F401  (the dataset classes register their layouts)
from vireid.errors import OutputError
from vireid.utils import outputs as o
from vireid.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text, save_safetensors
from vireid.utils.marks import json_mark, text_header, written_kind

FILE_KINDS = [k for k in o.KINDS.values() if k.folder is None and k.suffixes and k is not o.TRAINING_STATE]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _png_bytes() -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(0.5, 0.5))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata=o.picture_metadata("x.png"))
    plt.close(fig)
    return buf.getvalue()


def _onnx_bytes() -> bytes:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph)
    entry = model.metadata_props.add()
    entry.key, entry.value = "producer", "vireid"
    assert onnx.checker.check_model(model) is None
    return model.SerializeToString()


def write_vireid(path: Path, kind: o.Kind) -> None:
    """A file vireid writes as ``kind``, at ``path`` (whatever its suffix), with the real writers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind in (o.CHECKPOINT, o.RUN_CHECKPOINT, o.FEATURES):
        save_safetensors({"w": torch.zeros(2)}, path, {"vireid": kind.id})  # the mark, under any name
    elif kind is o.PICTURE:
        path.write_bytes(_png_bytes())
    elif kind is o.ONNX:
        path.write_bytes(_onnx_bytes())
    elif kind in (o.RUN_CONFIG, o.ABLATION_REPORT):
        path.write_text(text_header(kind, "#" if kind is o.RUN_CONFIG else "<!--") + "x: 1\n")
    elif kind is o.TRAINING_LOG:
        path.write_text(json.dumps(json_mark(kind)) + '\n{"step": 1}\n')
    else:
        path.write_text(json.dumps({"a": 1, **json_mark(kind)}))


@pytest.mark.parametrize("kind", FILE_KINDS, ids=lambda k: k.id)
def test_every_mark_is_recognised(kind, tmp_path):
    path = tmp_path / f"f{kind.suffixes[0]}"
    write_vireid(path, kind)
    assert written_kind(path) == kind.id


CONTENTS = st.sampled_from(["absent", "empty", "user", *[f"vireid:{k.id}" for k in FILE_KINDS]])


@SETTINGS
@given(kind=st.sampled_from(FILE_KINDS), content=CONTENTS, overwrite=st.booleans(), user=st.binary(min_size=1))
def test_check_file_allows_exactly_what_the_rule_says(tmp_path, kind, content, overwrite, user):
    folder = Path(tmp_path) / os.urandom(6).hex()
    path = folder / f"out{kind.suffixes[-1]}"
    folder.mkdir()
    if content == "empty":
        path.write_bytes(b"")
    elif content == "user":
        if written_kind_of_bytes(folder, user, kind) is not None:
            return  # these bytes happen to carry a vireid mark: not a user's file
        path.write_bytes(user)
    elif content.startswith("vireid:"):
        write_vireid(path, o.KINDS[content.split(":")[1]])
    before = path.read_bytes() if path.exists() else None
    allowed = content in ("absent", "empty") or content == f"vireid:{kind.id}" or (content == "user" and overwrite)
    with o.policy(overwrite=overwrite):
        if allowed:
            assert o.check_file(path, kind) == path
        else:
            with pytest.raises(OutputError) as info:
                o.check_file(path, kind)
            text = str(info.value)
            assert "\n" not in text
            assert ("another kind" in text) if content.startswith("vireid:") else ("--overwrite" in text)
            with pytest.raises(OutputError):  # the writer refuses the same, and leaves it as it was
                atomic_write_bytes(path, b"new", kind=kind)
            assert path.read_bytes() == before
            assert sorted(p.name for p in folder.iterdir()) == [path.name]  # no temporary left


def written_kind_of_bytes(folder: Path, data: bytes, kind: o.Kind) -> str | None:
    probe = folder / f"probe{kind.suffixes[-1]}"
    probe.write_bytes(data)
    try:
        return written_kind(probe)
    finally:
        probe.unlink()


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_never_taken_for_a_vireid_file(tmp_path, data):
    for suffix in (".safetensors", ".onnx", ".png", ".json", ".yaml", ".md", ".jsonl", ".pdf", ".svg"):
        p = Path(tmp_path) / f"x{suffix}"
        p.write_bytes(data)
        found = written_kind(p)
        assert found is None or b"vireid" in data, (suffix, data[:80])


@SETTINGS
@given(kind=st.sampled_from(FILE_KINDS), suffix=st.from_regex(r"\.[A-Za-z0-9]{1,6}", fullmatch=True))
def test_a_suffix_of_another_kind_is_refused(tmp_path, kind, suffix):
    path = Path(tmp_path) / f"out{suffix}"
    if suffix.lower() in kind.suffixes:
        assert o.check_file(path, kind) == path
    else:
        with pytest.raises(OutputError, match=f"names {kind.noun}"):
            o.check_file(path, kind)
    with pytest.raises(OutputError, match="without a suffix"):
        o.check_file(Path(tmp_path) / "noext", kind)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    sysu = root / "sysu"
    (sysu / "exp").mkdir(parents=True)
    (sysu / "cam1" / "0001").mkdir(parents=True)
    (sysu / "cam1" / "0001" / "0001.jpg").write_bytes(b"jpeg")
    synth = root / "synth"
    synth.mkdir()
    (synth / "synth.json").write_text(json.dumps({"generator": "vireid.data.synth", "layout": "llcm", "params": {}}))
    return root, [sysu, synth]


@SETTINGS
@given(
    which=st.integers(0, 1),
    parts=st.lists(st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True), max_size=3),
    kind=st.sampled_from([*FILE_KINDS, o.RUN_FOLDER, o.TEST_FOLDER, o.INDEX, o.DEMO_FOLDER, o.DATASET]),
)
def test_nothing_is_ever_written_in_a_dataset(datasets, which, parts, kind):
    _, roots = datasets
    path = roots[which].joinpath(*parts, "new" + (kind.suffixes[0] if kind.suffixes else ""))
    with o.policy(overwrite=True), pytest.raises(OutputError, match="dataset"):
        (o.check_file if kind.folder is None else o.check_folder)(path, kind)
    # the command's own data.root is a dataset too, whatever its layout
    mine = datasets[0] / "plain"
    with o.policy(datasets=[mine]), pytest.raises(OutputError, match="dataset"):
        o.check_file(mine / "x.png", o.PICTURE)


def test_a_synthetic_dataset_may_be_replaced_only_as_itself(datasets):
    _, (sysu, synth) = datasets
    assert o.check_folder(synth, o.DATASET, owned=lambda p: {"synth.json"}) == {"synth.json"}
    with pytest.raises(OutputError, match="is a SYSU-MM01 dataset"):  # an official one: never
        o.check_folder(sysu, o.DATASET, owned=lambda p: set())


def test_a_command_may_make_the_synthetic_dataset_it_reads(tmp_path, monkeypatch):
    """The demo and data.synth generate data.root, then read it: not "an input destroyed"; but a
    folder holding that data.root is still refused, and a dataset elsewhere still is an input."""
    monkeypatch.chdir(tmp_path)
    for root in ("data/synth-demo", tmp_path / "abs" / "synth"):  # relative, as `make demo`, and absolute
        with o.reading({"data.root": root}, datasets=[root]):
            assert o.check_folder(root, o.DATASET, owned=lambda p: set()) == set()
            with pytest.raises(OutputError, match="holds the data.root"):
                o.check_folder(Path(root).parent, o.DEMO_FOLDER)
    with o.reading({"data.root": "data/a"}, datasets=["data/a"]), pytest.raises(OutputError, match="holds the"):
        o.check_folder("data", o.DATASET, owned=lambda p: set())


def test_inputs_are_refused_through_any_spelling(tmp_path):
    ckpt = tmp_path / "a" / "model.safetensors"
    write_vireid(ckpt, o.CHECKPOINT)
    os.symlink(ckpt, tmp_path / "link.safetensors")
    for spelling in (ckpt, tmp_path / "a" / ".." / "a" / "model.safetensors", tmp_path / "link.safetensors"):
        with o.policy(overwrite=True, inputs={"checkpoint": ckpt}), pytest.raises(OutputError, match="also the"):
            o.check_file(spelling, o.CHECKPOINT)
    with o.policy(inputs={"config": "first_run"}):  # a shipped config's name is no path
        o.check_folder(tmp_path / "first_run", o.RUN_FOLDER)
    with pytest.raises(OutputError, match="holds the gallery"):  # a folder replaced whole may not hold one
        o.check_folder(tmp_path, o.INDEX, inputs={"gallery": tmp_path / "a"}, owned=lambda p: set())
    # a folder files are added to may be an input folder (test --run RUN --out RUN), but a file input
    # named as that folder is the input, not "not a folder" (found by the fuzzer: train --out CONFIG)
    (tmp_path / "c.yaml").write_text("a: 1\n")
    with o.policy(inputs={"config": tmp_path / "c.yaml"}), pytest.raises(OutputError, match="is also the config"):
        o.check_folder(tmp_path / "c.yaml", o.RUN_FOLDER)
    with o.policy(inputs={"run folder": tmp_path / "a"}):
        o.check_folder(tmp_path / "a", o.RUN_FOLDER)


@SETTINGS
@given(
    owned=st.sets(st.from_regex(r"(d[0-2]/)?f[0-9]", fullmatch=True), max_size=6),
    foreign=st.sets(st.from_regex(r"(d[0-2]/|u/)?g[0-9]", fullmatch=True), max_size=4),
)
def test_remove_owned_deletes_exactly_what_vireid_wrote(tmp_path, owned, foreign):
    root = Path(tmp_path) / os.urandom(6).hex()
    for rel in owned | foreign:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    listed = o.foreign_entries(root, owned) if root.exists() else []
    mine = {r.split("/")[0] for r in owned if "/" in r}  # folders holding a file of vireid's

    def named(rel: str, keep: set[str]) -> str:
        top = rel.split("/")[0]
        return rel if "/" not in rel or top in keep else top + "/"

    assert set(listed) == {named(f, mine) for f in foreign}  # files; a folder holding none of vireid's, once
    left = o.remove_owned(root, owned) if root.exists() else []
    for rel in owned:
        assert not (root / rel).exists()
    for rel in foreign:
        assert (root / rel).read_text() == rel  # untouched
    assert set(left) == {named(f, set()) for f in foreign}


def test_writers_check_their_kind_and_write_marked_files(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"x": 1}, kind=o.TEST_METRICS)
    assert written_kind(tmp_path / "m.json") == "test-metrics"
    atomic_write_json(tmp_path / "m.json", {"x": 2}, kind=o.TEST_METRICS)  # its own kind: replaced
    with pytest.raises(OutputError, match="another kind"):
        atomic_write_json(tmp_path / "m.json", {"x": 3}, kind=o.EVALUATION)
    (tmp_path / "c.yaml").write_text("mine: true\n")
    with pytest.raises(OutputError, match="not written by vireid"):
        atomic_write_text(tmp_path / "c.yaml", "x: 1\n", kind=o.RUN_CONFIG)
    assert (tmp_path / "c.yaml").read_text() == "mine: true\n"
    with pytest.raises(RuntimeError, match="staging"):  # a staged write outside a staging folder is a bug
        atomic_write_text(tmp_path / "s.txt", "x", kind=o.STAGED)
    staged = o.staging_dir(".x.", tmp_path)
    atomic_write_text(staged / "s.txt", "x", kind=o.STAGED)


def test_legacy_files_of_an_earlier_vireid_are_recognised(tmp_path):
    cases = {
        "run-metrics": {"mean": {"rank1": 0.1}, "std": {}, "checkpoint": "x", "train_seconds": 1.0},
        "test-metrics": {"mean": {"rank1": 0.1}, "std": {}, "checkpoint": "x", "rerank": False},
        "evaluation": {"rank1": 0.1, "trials": [], "protocol": "sysu", "query": "q"},
        "checkpoint-pointer": {"dir": "step-00000002", "step": 2},
        "run-lock": {"pid": 1, "host": "h", "since": 0.0},
    }
    for kind, doc in cases.items():
        (tmp_path / "f.json").write_text(json.dumps(doc))
        assert written_kind(tmp_path / "f.json") == kind
    (tmp_path / "r.json").write_text(json.dumps([{"combo": {}, "seed": 0, "metrics": {}}]))
    assert written_kind(tmp_path / "r.json") == "ablation-results"
    (tmp_path / "m.jsonl").write_text('{"step": 1, "loss/id": 2.0}\n{"step": 2, "eval/rank1": 0.1}\n')
    assert written_kind(tmp_path / "m.jsonl") == "training-log"
    (tmp_path / "config.yaml").write_text("data:\n  root: x\nmodel: {}\ntrain: {}\noptim: {}\neval: {}\nloss: {}\n")
    assert written_kind(tmp_path / "config.yaml") == "run-config"
    (tmp_path / "mine.yaml").write_text("data:\n  root: x\n")  # a user's config: not a run's
    assert written_kind(tmp_path / "mine.yaml") is None


def test_pictures_of_an_earlier_vireid_are_recognised_beside_their_run(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(0.5, 0.5))
    fig.savefig(tmp_path / "ranks.png")  # matplotlib's own metadata: no mark
    plt.close(fig)
    assert written_kind(tmp_path / "ranks.png") is None  # alone: the user's picture
    doc = {"mean": {"rank1": 0.1}, "std": {}, "checkpoint": "x", "rerank": False}
    (tmp_path / "metrics.json").write_text(json.dumps(doc))  # beside the metrics of an older vireid test
    assert written_kind(tmp_path / "ranks.png") == "picture"
    shutil.copyfile(tmp_path / "ranks.png", tmp_path / "holiday.png")
    assert written_kind(tmp_path / "holiday.png") is None  # another name: not one vireid draws


def test_removing_a_folder_never_follows_a_link_out_of_it(tmp_path):
    elsewhere = tmp_path / "photos"
    elsewhere.mkdir()
    (elsewhere / "x.png").write_text("holiday")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "a.json").write_text("{}")
    os.symlink(elsewhere, folder / "tb")
    assert o.foreign_entries(folder, {"a.json", "tb/x.png"}) == ["tb"]  # the link: not vireid's
    o.remove_owned(folder, {"a.json", "tb/x.png"})
    assert (elsewhere / "x.png").read_text() == "holiday" and not (folder / "a.json").exists()


@pytest.mark.parametrize("kind", [o.FEATURES, o.INDEX])
def test_a_name_the_file_system_cannot_hold_is_refused_before_any_work(tmp_path, kind):
    """In folders still to be made, a name over NAME_MAX was found only at the write, after the
    work (found by the fuzzer)."""
    name = "x" * 300 + (kind.suffixes[0] if kind.suffixes else "")
    check = o.check_file if kind.folder is None else o.check_folder
    with pytest.raises(OutputError, match="a name of 3.. bytes, longer than the file system takes"):
        check(tmp_path / "new" / name, kind)
    assert not (tmp_path / "new").exists()


def test_a_folder_output_at_a_link_to_nothing_says_so(tmp_path):
    """``synth --out dangling`` said ``exists and is not a folder``: it is a link to nothing."""
    from vireid.errors import OutputError
    from vireid.utils.outputs import DATASET, RUN_FOLDER, check_folder

    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nonexist")
    for kind in (DATASET, RUN_FOLDER):
        with pytest.raises(OutputError, match=r"dangling: is a link to .*nonexist, which does not exist; --out names"):
            check_folder(link, kind, option="--out")
    assert link.is_symlink() and not (tmp_path / "nonexist").exists()
