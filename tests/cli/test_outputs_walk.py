"""The output policy, walked over every command of the parser and every output option.

Each command (every leaf of ``vireid``'s parser, sub-sub-commands included) declares what it reads
and writes and a minimal valid invocation (:func:`vireid.cli._common.declare`).  The walk

* fails for a command without a declaration, for an output-like option (``--out``, ``--save-*``...)
  that is not declared, and for a declared output without ``--overwrite`` -- shown on a fake
  command added to the parser;
* runs every declared output through the policy (:mod:`vireid.utils.outputs`): written when new;
  written again over vireid's own output of the same kind; refused, with one line and nothing
  changed, on a full disk (a tmpfs filled to its last byte), over a user's file (and replaced with
  ``--overwrite``), over a vireid file of another kind (even with ``--overwrite``), inside a
  dataset, onto any input of the command, and with a suffix of another kind; a folder replaced as
  a whole is refused when the user added a file;
* checks that no file outside the outputs changes (the inputs, the dataset).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import types

import pytest
import torch

from tests.cli.world import leaves, snapshot
from tests.conftest import fill
from vireid.cli import main as cli
from vireid.utils import outputs
from vireid.utils.marks import json_mark, written_kind

OUTPUT_LIKE = re.compile(r"(^|_|-)(out|output|save|write|dump|export|report|dest|target|viz)", re.IGNORECASE)
USER_BYTES = b"the user's own file\n"


def problems(parser: argparse.ArgumentParser) -> list[str]:
    """What is wrong with the commands' declarations (empty when every command is covered)."""
    out = []
    for path, p in leaves(parser):
        name = " ".join(path)
        decl = p.get_default("_declaration")
        if decl is None:
            out.append(f"{name}: no declaration (vireid.cli._common.declare)")
            continue
        dests = {a.dest: a for a in p._actions}
        for a in p._actions:
            text = " ".join([a.dest, *a.option_strings])
            if a.dest in ("help", "overwrite") or not OUTPUT_LIKE.search(text):
                continue
            if a.dest not in decl.outputs and a.dest not in decl.adds_outputs and a.dest not in decl.not_outputs:
                out.append(f"{name}: output-like option {a.option_strings or a.dest} is not declared")
        for dest in [*decl.outputs, *decl.inputs, *decl.adds_outputs, *decl.not_outputs]:
            if dest not in dests:
                out.append(f"{name}: declares {dest!r}, which is not an option")
        if decl.outputs and "overwrite" not in dests:
            out.append(f"{name}: writes but has no --overwrite")
        if tuple(decl.example[: len(path)]) != path:
            out.append(f"{name}: its example does not run it ({' '.join(decl.example)})")
        for dest in decl.outputs:
            if not any("{out}" in a for a in decl.example):
                out.append(f"{name}: its example does not write {dest} to {{out}}")
    return out


def test_every_command_declares_its_inputs_and_outputs():
    assert problems(cli.build_parser()) == []
    names = {" ".join(path) for path, _ in leaves(cli.build_parser())}
    assert {"synth", "train", "index build", "visualize ranks", "visualize attention", "weights download"} <= names


def test_a_command_without_a_declaration_fails_the_walk(monkeypatch):
    """A new command, or a new output option, that nobody declared is caught."""
    from vireid.cli._common import declare

    fake = types.ModuleType("vireid.cli._fake")

    def add_parser(sub):
        p = sub.add_parser("fake")
        p.add_argument("--out")
        q = sub.add_parser("fake2")  # declared, but its new --report-file is not
        q.add_argument("--out")
        q.add_argument("--report-file")
        declare(q, outputs={"out": outputs.PICTURE}, example=("fake2", "--out", "{out}"))
        return p

    fake.add_parser, fake.run = add_parser, lambda args: 0
    monkeypatch.setitem(sys.modules, "vireid.cli._fake", fake)
    monkeypatch.setitem(cli.COMMANDS, "fake", "_fake")
    found = problems(cli.build_parser())
    assert "fake: no declaration (vireid.cli._common.declare)" in found
    assert "fake2: output-like option ['--report-file'] is not declared" in found
    with pytest.raises(RuntimeError, match="declares no inputs and outputs"):  # and it cannot run either
        cli.main(["fake", "--out", "x.png"])


# --------------------------------------------------------------------------- the behaviour walk
def declared_outputs():
    out = []
    for path, p in leaves(cli.build_parser()):
        decl = p.get_default("_declaration")
        out += [pytest.param(path, dest, kind, id=f"{' '.join(path)} --{dest}") for dest, kind in decl.outputs.items()]
    return out


def declaration(path):
    return dict(leaves(cli.build_parser()))[path].get_default("_declaration")


def refused(capsys, argv, *words) -> str:
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, f"{' '.join(argv)} was not refused: {err}"
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def ok(capsys, argv) -> None:
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 0, f"{' '.join(argv)}: {err}"


def out_path(tmp, kind, name="out"):
    return tmp / (name + (kind.suffixes[0] if kind.suffixes else ""))


def other_kind_file(path, kind):
    """A vireid file of another kind than ``kind`` at ``path`` (a JSON file carrying the mark)."""
    other = outputs.RUN_METRICS if kind is not outputs.RUN_METRICS else outputs.TEST_METRICS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mean": {}, **json_mark(other)}))
    return other


def member_files(path, kind):
    """Files of a folder vireid replaces whole (an index's ``feats.safetensors`` and ``index.json``,
    a dataset's ``synth.json``) at ``path``, one after another, each carrying its mark; yields their
    kinds (those of ``kind``'s suffix).  ``extract --out INDEX/feats.safetensors --overwrite``
    replaced an index's descriptors: they carried no mark."""
    from safetensors.torch import save_file

    for member in outputs.MEMBER_KINDS.values():
        if member.suffixes[0] not in kind.suffixes:
            continue
        if member.suffixes[0] == ".json":
            path.write_text(json.dumps({"format": "x", **json_mark(member)}))
        else:
            save_file({"feats": torch.zeros(2, 3)}, str(path), metadata={"vireid": member.id})
        yield member


@pytest.mark.parametrize("path, dest, kind", declared_outputs())
def test_the_output_policy_holds_for(path, dest, kind, world, tmp_path, tmpfs, capsys):
    decl = declaration(path)
    option = "--" + dest.replace("_", "-")
    disk = tmpfs("16m", skip=False)  # a disk of its own, to fill (where mounting is allowed)
    out = out_path(disk or tmp_path, kind)
    argv = world.fill(decl.example, out=out)
    inputs = snapshot(world.root)

    # new: written; again over its own output of the same kind: written (beside a file of the user's)
    ok(capsys, argv)
    assert out.exists()
    if kind.folder == "add":
        (out / "NOTES.txt").write_bytes(USER_BYTES)
    ok(capsys, argv + list(decl.rerun))
    if kind.folder == "add":
        assert (out / "NOTES.txt").read_bytes() == USER_BYTES
        (out / "NOTES.txt").unlink()
    written = snapshot(out)
    assert snapshot(world.root) == inputs, "a command changed one of its inputs"

    if disk is not None:  # the disk full: one line, no temporary file, the previous output intact
        fill(disk)
        before = snapshot(disk)
        refused(capsys, argv + list(decl.rerun), "disk is full")
        assert snapshot(disk) == before, "a full disk changed something"
        (disk / ".filler").unlink()

    if kind.folder is None:
        assert written_kind(out) == kind.id  # marked as vireid's, as that kind
        out.write_bytes(USER_BYTES)  # the user's file: refused, then replaced when asked
        refused(capsys, argv + list(decl.rerun), "not written by vireid", "--overwrite")
        assert out.read_bytes() == USER_BYTES
        ok(capsys, argv + list(decl.rerun) + ["--overwrite"])
        assert out.read_bytes() != USER_BYTES
        other = other_kind_file(out, kind)  # a vireid file of another kind: never, not even with --overwrite
        before = out.read_bytes()
        refused(capsys, argv + list(decl.rerun) + ["--overwrite"], other.noun, "another kind")
        assert out.read_bytes() == before
        for member in member_files(out, kind):  # a file of an index or dataset: never, not even with --overwrite
            before = out.read_bytes()
            refused(capsys, argv + list(decl.rerun) + ["--overwrite"], member.noun, "another kind")
            assert out.read_bytes() == before
        wrong = tmp_path / "picture.gif" if kind is not outputs.PICTURE else tmp_path / "model.gif"
        refused(capsys, world.fill(decl.example, out=wrong), "not a .gif file")  # a suffix of another kind
        assert not wrong.exists()
    elif kind.folder == "add":
        for rel in sorted(written):  # each file it writes: a user's file there is never lost
            target = out / rel
            keep = target.read_bytes()
            target.write_bytes(USER_BYTES)
            before = snapshot(out)
            rc = cli.main(argv + list(decl.rerun))
            err = capsys.readouterr().err.strip()
            if rc == 0:  # it did not need that file (a finished run reused): left as it was
                assert target.read_bytes() == USER_BYTES, f"{rel} was replaced"
            else:
                assert rc == 2 and len(err.splitlines()) == 1 and str(target) in err, err
                assert snapshot(out) == before, f"{rel}: something changed"
            target.write_bytes(keep)
    else:  # replaced as a whole: anything the user added stops it, named
        (out / "NOTES.txt").write_bytes(USER_BYTES)
        (out / "myruns").mkdir()
        (out / "myruns" / "r.txt").write_bytes(USER_BYTES)
        before = snapshot(out)
        refused(capsys, argv + list(decl.rerun) + ["--overwrite"], "NOTES.txt", "myruns/", "not among the files")
        assert snapshot(out) == before
        (out / "NOTES.txt").unlink()
        shutil.rmtree(out / "myruns")

    # inside a dataset: never
    dataset = world.root / "dataset"
    inside = out_path(dataset / "cam1" / "0001", kind, "new")
    refused(capsys, world.fill(decl.example, out=inside) + ["--overwrite"], "dataset")
    assert not inside.exists()
    # onto any of its inputs: never (the files it reads, the run folder it tests)
    for value in {world.places[k[1:-1]] for k in decl.example if re.fullmatch(r"\{\w+\}", k) and k != "{out}"}:
        if value == world.places["dataset"]:
            continue  # covered above
        refused(capsys, world.fill(decl.example, out=value) + ["--overwrite"])
    assert snapshot(world.root) == inputs, "an input changed"
    assert option in " ".join(argv)
