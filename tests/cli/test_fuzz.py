"""The fuzzer's quick profile: generated inputs for every command of ``vireid``'s parser.

Each command (a leaf of the parser, found by walking it) gets :data:`QUICK` cases drawn by
hypothesis from the grammars of :mod:`tests.cli.fuzz` -- configs, overrides, dataset lists,
manifests, checkpoints, features files, index and run folders, images, paths, options, output
situations, the environment -- each run in its own copy of the world in a forked process with a
time limit, and checked: exit 0, or 2 with one line; no traceback; no hang; nothing outside the
command's outputs changed; the user's files intact (:mod:`tests.cli.fuzz.harness`).  The draws
are derandomized (the same cases on every machine, no example database), so a failure here is
reproducible with ``pytest tests/cli/test_fuzz.py -k COMMAND``.  The long profile is
``python -m benchmarks.fuzz --minutes N``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.cli.fuzz.cases import INPUTS, case, classes, commands
from tests.cli.fuzz.harness import session

#: cases per command in ``make test``
QUICK = int(os.environ.get("VIREID_FUZZ_QUICK", "2"))
#: seconds a case may take before it counts as a hang (generous: the machine may be busy)
TIMEOUT = float(os.environ.get("VIREID_FUZZ_TIMEOUT", "180"))
COMMANDS = commands()


@pytest.fixture(scope="module")
def harness(world, tmp_path_factory):
    with session(world, tmp_path_factory.mktemp("fuzz"), timeout=TIMEOUT) as h:
        yield h


def test_every_input_of_every_command_has_a_grammar():
    """A command whose example reads an input of a new sort fails here until the sort has a grammar."""
    missing = {(c.name, ph) for c in COMMANDS for ph in c.placeholders if ph not in INPUTS}
    assert not missing, f"no grammar (tests/cli/fuzz/cases.py INPUTS) for {sorted(missing)}"
    assert len(COMMANDS) >= 18
    for c in COMMANDS:  # every command gets the classes its declaration allows
        assert {"valid", "option", "usage", "env"} <= set(classes(c))
        assert ("out" in classes(c)) == bool(c.decl.outputs)


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.name.replace(" ", "-") for c in COMMANDS])
def test_fuzz(cmd, harness):
    @settings(
        max_examples=QUICK,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data):
        outcome = harness.run(cmd, data.draw(case(cmd, harness.world), label="case"))
        assert not outcome.problems, outcome.report()

    one()


# --------------------------------------------------------------------------- the harness finds what it claims
def _synth():
    return next(c for c in COMMANDS if c.name == "synth")


MISBEHAVIOURS = {
    "hang": ("import time\ntime.sleep(60)", "a hang"),
    "traceback": ("raise KeyError('feats')", "a traceback"),
    "exit 1": ("rc = 1", "exit code 1"),
    "two lines": ("import sys\nprint('a\\nb', file=sys.stderr)\nrc = 2", "2 lines on stderr"),
    "a file changed": (
        "open(argv[argv.index('--out') + 1].rsplit('/out/', 1)[0] + '/tiny.yaml', 'a').write('x')",
        "tiny.yaml changed (not an output)",
    ),
    "a file removed": (
        "import os\nos.remove(argv[argv.index('--out') + 1].rsplit('/out/', 1)[0] + '/manifest.csv')",
        "manifest.csv removed",
    ),
    "a child left": ("import subprocess\nsubprocess.Popen(['sleep', '30'])", "processes left running"),
    "code run": ("open('PWNED', 'w')", "PWNED added (not an output)"),
}


@pytest.mark.parametrize("what", MISBEHAVIOURS)
def test_the_harness_finds(what, harness):
    """Each property is checked: a command that misbehaves so (code run in the case's process in
    place of the command) is reported, a well-behaved one is not."""
    from tests.cli.fuzz.cases import Case

    code, problem = MISBEHAVIOURS[what]
    argv = ["synth", "--layout", "sysu", "--out", "@ROOT@/out/new"]
    old, harness.timeout = harness.timeout, 3.0
    try:
        found = harness.run(_synth(), Case("synth", argv), python=code)
        clean = harness.run(_synth(), Case("synth", argv), python="rc = 0")
    finally:
        harness.timeout = old
    assert any(problem in p for p in found.problems), found.problems
    assert clean.problems == []
    assert found.seconds < 20


def test_the_harness_checks_what_the_case_knows(harness):
    """A valid input refused, a wrong one accepted, a refusal naming something else, a user's file lost."""
    from tests.cli.fuzz.cases import Case

    argv = ["synth", "--layout", "sysu", "--out", "@ROOT@/out/new"]
    refuse = "import sys\nprint('vireid synth: error: something else', file=sys.stderr)\nrc = 2"
    same = (harness.world.root / "tiny.yaml").read_bytes()  # "written" as it is: nothing changed
    cases = {
        "a valid input refused": (Case("synth", argv, ok=True), refuse),
        "a wrong input accepted": (Case("synth", argv, bad=True), "rc = 0"),
        "the refusal names none of ['tiny.yaml']": (Case("synth", argv, bad=True, blame=("tiny.yaml",)), refuse),
        "the refusal says 'something else'": (Case("synth", argv, bad=True, not_said=("something else",)), refuse),
        "out/new/NOTES.txt removed, which must stay as it was": (
            Case("synth", argv, ops=(("write", "out/new/NOTES.txt", b"mine"),), sentinels=("out/new/NOTES.txt",)),
            "import os\nos.remove(argv[argv.index('--out') + 1] + '/NOTES.txt')",
        ),
        "printed 'a\\nb' as it is": (Case("synth", argv, raw=("a\nb",)), "print('a\\nb')"),
        "the case claims a wrong input but changes no file": (
            Case("synth", argv, bad=True, ops=(("write", "tiny.yaml", same),)),
            refuse,
        ),
    }
    for problem, (c, code) in cases.items():
        found = harness.run(_synth(), c, python=code).problems
        assert any(p.startswith(problem) for p in found), (problem, found)


def test_a_copy_of_a_mutated_input_keeps_the_mutation(tmp_path):
    """An input renamed (a path mutation) after an input mutation made it a dangling link or a
    pipe: the copy is that link or pipe, as ``cp -P`` makes it (it failed, ending the long run)."""
    from tests.cli.fuzz.mutation import apply

    (tmp_path / "g.index").mkdir()
    (tmp_path / "q.safetensors").write_bytes(b"x")
    ops = (
        ("remove", "g.index"),
        ("symlink", "g.index", "@ROOT@/nowhere"),
        ("copy", "odd/$HOME.index", "g.index"),
        ("remove", "q.safetensors"),
        ("fifo", "q.safetensors"),
        ("copy", "odd/q.safetensors", "q.safetensors"),
    )
    apply(ops, tmp_path, tmp_path)
    copy = tmp_path / "odd/$HOME.index"
    assert copy.is_symlink() and os.readlink(copy) == f"{tmp_path}/nowhere" and not copy.exists()
    assert (tmp_path / "odd/q.safetensors").is_fifo()


def test_a_failed_case_is_kept_even_with_a_pipe(harness, tmp_path):
    """``--keep`` copies a failed case's folder; a named pipe in it is left out, not read (a hang)."""
    from tests.cli.fuzz.cases import Case

    argv = ["synth", "--layout", "sysu", "--out", "@ROOT@/out/new"]
    ops = (("fifo", "out/pipe"),)
    old = harness.keep_dir, harness.keep, harness.kept
    harness.keep_dir, harness.keep, harness.kept = tmp_path / "kept", 1, 0
    try:
        found = harness.run(_synth(), Case("synth", argv, ops=ops, bad=True), python="rc = 0")
    finally:
        harness.keep_dir, harness.keep, harness.kept = old
    assert found.problems and (tmp_path / "kept/failed1.txt").is_file()
    kept = tmp_path / "kept/failed1"
    assert (kept / "tiny.yaml").is_file() and not (kept / "out/pipe").exists()


# --------------------------------------------------------------------------- two mutations at once
def test_a_renamed_copy_carries_the_mutated_file_and_its_blame():
    """An input mutated, then given under an odd name: the refusal must name the new name."""
    from tests.cli.fuzz.cases import _through
    from tests.cli.fuzz.mutation import Mutation

    broken = Mutation((("write", "deen0.safetensors", b"x"),), "header", bad=True, blame=("deen0.safetensors",))
    renamed = Mutation((("copy", "odd/$H\x85.safetensors", "deen0.safetensors"),), "named", ok=True)
    got = _through(broken, renamed, "checkpoint", "deen0.safetensors", "input:checkpoint")
    assert got.bad and got.blame == ("$H\x85.safetensors",)
    other = _through(broken, renamed, "checkpoint", "deen0.safetensors", "input:image")  # another input's mutation
    assert other == broken


def test_an_alternative_in_the_inputs_place_leaves_its_mutation_unread():
    """``{checkpoint}`` given as the run: the mutated ``deen0.safetensors`` is not read (valid);
    the manifest instead of the image folder still lists the folder's images (unknown)."""
    from tests.cli.fuzz.cases import _through
    from tests.cli.fuzz.mutation import ROOT, Mutation

    broken = Mutation((("write", "deen0.safetensors", b"x"),), "header", bad=True, blame=("deen0.safetensors",))
    alt = Mutation(place={"checkpoint": f"{ROOT}/run"}, note="given as run", ok=True)
    got = _through(broken, alt, "checkpoint", "deen0.safetensors", "input:checkpoint")
    assert not got.bad and got.ok and got.blame == ()
    images = Mutation((("remove", "images/cam1"),), "images", bad=True, blame=("images",))
    manifest = Mutation(place={"images": f"{ROOT}/manifest.csv"}, ok=True)
    got = _through(images, manifest, "images", "images", "input:images")
    assert not got.bad and not got.ok
    dotdot = Mutation(place={"checkpoint": f"{ROOT}/cwd/../deen0.safetensors"}, ok=True)  # the same file
    assert _through(broken, dotdot, "checkpoint", "deen0.safetensors", "input:checkpoint") == broken


def test_the_authors_unused_keys_may_be_anything():
    """The converter reads the keys its map names: their model's unused tensors (the thermal stem
    past conv1/bn1, RegDB's layer4) may be NaN or missing, as in their code."""
    from tests.cli.fuzz.authors import _official_used

    default = _official_used({"MFA3.x": 0})
    regdb = _official_used({"MFA2.x": 0})
    assert default("base_resnet.base.layer4.0.bn3.running_var") and not regdb("base_resnet.base.layer4.0.bn3.weight")
    assert not default("thermal_module.thermal.layer3.4.bn2.weight")
    assert default("thermal_module.thermal.conv1.weight") and default("base_resnet.base.layer1.1.conv2.weight")


def test_a_list_cut_short_may_be_a_shorter_list():
    """``test_id.txt`` ``4,5`` cut at byte 2 is ``4,``, a valid list of one id: the grammar called
    it wrong; emptied, it is still wrong."""
    from tests.cli.fuzz.datasets import _shorter_list
    from tests.cli.fuzz.mutation import Mutation

    cut = Mutation((("write", "exp/test_id.txt", b"4,"),), "test_id.txt truncated at byte 2", bad=True, blame=("x",))
    assert not _shorter_list(cut).bad and _shorter_list(cut).blame == ()
    empty = Mutation((("write", "exp/test_id.txt", b""),), "test_id.txt truncated at byte 0", bad=True)
    assert _shorter_list(empty).bad
    other = Mutation((("write", "exp/test_id.txt", b"\x00"),), "test_id.txt garbage", bad=True)
    assert _shorter_list(other).bad
