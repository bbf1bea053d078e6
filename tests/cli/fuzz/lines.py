"""Grammars of how a command is called: the path given for an input (missing, of the wrong sort,
an awkward name, another valid spelling), an option's value (from its type: ints, seeds, finite
and positive numbers, choices, free text), the command line's shape, and the environment (a C
locale, a closed stdout, odd homes and caches)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hypothesis import strategies as st

from tests.cli.fuzz.mutation import ROOT, Mutation
from tests.cli.fuzz.values import file_name

if TYPE_CHECKING:
    from tests.cli.fuzz.cases import Command

#: other valid values of a placeholder (world paths): a checkpoint as a run folder, its checkpoints
#: folder, a run's best checkpoint or the authors' file; an index built with faiss
ALTERNATIVES = {
    "checkpoint": ("run", "run/checkpoints", "run/checkpoints/best.safetensors", "authors_best.t"),
    "index": ("faiss.index-folder",),
    "images": ("manifest.csv",),
}
#: placeholders naming folders (the rest are files)
FOLDERS = ("dataset", "images", "index", "run")


@st.composite
def path_mutation(draw, ph: str, rel: str) -> Mutation:
    """The path given for input ``ph``: missing, a folder or file of the wrong sort, empty, or a
    good copy under an awkward name, relative, through ``..``."""
    how = draw(
        st.sampled_from(
            ["missing", "empty-folder", "text-file", "empty", "name", "relative", "dotdot", "slash", "other"]
        )
    )
    if how == "other" and ph in ALTERNATIVES:  # another valid spelling of the same input
        alt = draw(st.sampled_from(ALTERNATIVES[ph]))
        return Mutation(place={ph: f"{ROOT}/{alt}"}, note=f"{{{ph}}} given as {alt}", ok=True)
    if how == "other":
        how = "dotdot"
    name = Path(rel).name
    if how == "missing":
        if ph == "dataset":  # a config with data.synth generates it there
            return Mutation(place={ph: f"{ROOT}/nowhere/{name}"}, note="a new data.root", allow=("nowhere",))
        return Mutation(
            place={ph: f"{ROOT}/nowhere/{name}"}, note=f"{{{ph}}} does not exist", bad=True, blame=(name, "nowhere")
        )
    if how == "empty-folder" and ph == "dataset":  # a config with data.synth generates it there
        return Mutation(
            (("mkdir", "emptydir"),), "data.root an empty folder", place={ph: f"{ROOT}/emptydir"}, allow=("emptydir",)
        )
    if how == "empty-folder":
        return Mutation(
            (("mkdir", "emptydir"),),
            f"{{{ph}}} is an empty folder",
            place={ph: f"{ROOT}/emptydir"},
            bad=True,
            blame=("emptydir",),
            not_said=("not found",),
        )
    if how == "text-file":
        return Mutation(
            (("write", "notes.txt", b"hello\n"),),
            f"{{{ph}}} is a text file",
            place={ph: f"{ROOT}/notes.txt"},
            bad=True,
            blame=("notes.txt",),
        )
    if how == "empty":
        return Mutation(place={ph: ""}, note=f"{{{ph}}} is ''", bad=True, blame=("''",))
    if how == "name":
        new, _ = draw(file_name(Path(rel).suffix))
        return Mutation(
            (("copy", f"odd/{new}", rel),),
            f"{{{ph}}} named {new!r}",
            place={ph: f"{ROOT}/odd/{new}"},
            ok=True,
            blame=(new,),
        )
    if how == "relative":
        return Mutation(place={ph: "../../../" + rel}, note=f"{{{ph}}} relative to the working folder", ok=True)
    if how == "dotdot":
        return Mutation(place={ph: f"{ROOT}/cwd/../{rel}"}, note=f"{{{ph}}} through ..", ok=True)
    if ph in FOLDERS:
        return Mutation(place={ph: f"{ROOT}/{rel}/"}, note=f"{{{ph}}} with a trailing slash", ok=True)
    return Mutation(place={ph: f"{ROOT}/{rel}/"}, note=f"{{{ph}}} with a trailing slash", blame=(name,))


def _value_options(cmd: Command) -> list[argparse.Action]:
    skip = {"help", "overwrite", "overrides", *cmd.decl.outputs, *cmd.decl.inputs}
    return [a for a in cmd.parser._actions if a.option_strings and a.dest not in skip and not a.dest.startswith("_")]


@st.composite
def option_mutation(draw, cmd: Command) -> Mutation:
    """An option given a value from its type's grammar (or a flag switched on)."""
    acts = _value_options(cmd)
    if not acts:
        return Mutation(note="no options", ok=True)
    a = draw(st.sampled_from(acts))
    opt = a.option_strings[-1] if a.option_strings[-1].startswith("--") else a.option_strings[0]
    blame = (opt, a.dest, a.dest.replace("_", "-"))
    if a.nargs == 0:  # a flag
        return Mutation(words=(opt,), note=f"flag {opt}", blame=blame)
    if a.choices:
        v = draw(st.sampled_from(list(a.choices) + ["abc", "", str(list(a.choices)[0]).upper()]))
        ok = v in a.choices
        return Mutation(
            words=(opt, v), note=f"{opt} {v!r}", bad=not ok and v.lower() not in map(str, a.choices), blame=blame
        )
    from vireid.cli import _common

    if a.type in (int, _common.seed) or hasattr(a.type, "low"):
        v = draw(
            st.sampled_from(
                ["-1", "0", "1", "2", "3", "2147483648", "9223372036854775808", "10" * 15, "abc", "1.5", ""]
            )
        )
        try:
            bad = (a.type is _common.seed or a.dest == "seed") and not 0 <= int(v) < 2**63
            low, high = getattr(a.type, "low", None), getattr(a.type, "high", None)
            bad = bad or (low is not None and int(v) < low) or (high is not None and int(v) > high)
        except ValueError:
            bad = True
        return Mutation(words=(opt, v), note=f"{opt} {v!r}", bad=bad, blame=blame)
    if a.type in (float, _common.finite, _common.positive):
        v = draw(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e308", "0.5", "abc", "1e-300"]))
        bad = v in ("nan", "abc") or (a.type is not float and "inf" in v)
        bad = bad or (a.type is _common.positive and v in ("-1", "0"))
        return Mutation(words=(opt, v), note=f"{opt} {v!r}", bad=bad, blame=blame)
    v = draw(
        st.sampled_from(
            [
                "abc",
                "",
                "IR",
                "thermal",
                "RGB",
                "384x144",
                "0x0",
                "1x1",
                "100000x100000",
                "cuda",
                "cuda:7",
                "meta",
                "-1",
            ]
        )
    )
    return Mutation(words=(opt, v), note=f"{opt} {v!r}", blame=blame)


@st.composite
def usage_mutation(draw, cmd: Command, argv: list[str]) -> tuple[list[str], Mutation]:
    """The command line's shape: a required option dropped, an unknown option, a value missing,
    an option twice, a stray word, ``--help``."""
    how = draw(st.sampled_from(["drop", "unknown", "no-value", "twice", "stray", "help"]))
    required = [a for a in cmd.parser._actions if a.required and a.option_strings]
    if how == "drop" and required:
        a = draw(st.sampled_from(required))
        opt = next(o for o in a.option_strings if o in argv) if any(o in argv for o in a.option_strings) else None
        if opt is not None:
            i = argv.index(opt)
            j = i + 1
            while j < len(argv) and not argv[j].startswith("-"):
                j += 1
            return argv[:i] + argv[j:], Mutation(note=f"{opt} left out", bad=True, blame=(opt,))
    if how == "unknown":
        return argv + ["--bogus"], Mutation(note="an unknown option", bad=True, blame=("--bogus",))
    if how == "no-value":
        opts = [
            w
            for w in argv
            if w.startswith("--") and (cmd.action(w[2:].replace("-", "_")) or argparse.Action([], "x")).nargs != 0
        ]
        if opts:
            return argv + [opts[-1]], Mutation(note=f"{opts[-1]} without a value", bad=True, blame=(opts[-1],))
    if how == "twice":
        opts = [
            i
            for i, w in enumerate(argv)
            if w.startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--")
        ]
        if opts:
            i = draw(st.sampled_from(opts))
            return argv + argv[i : i + 2], Mutation(note=f"{argv[i]} given twice")
    if how == "stray":
        word = draw(st.sampled_from(["stray", "x=1", "-", "--", "-x"]))
        return argv + [word], Mutation(note=f"a stray word {word!r}")
    return argv + ["--help"], Mutation(note="--help", ok=True)


@st.composite
def environment(draw, cmd: Command, places: dict[str, str]) -> tuple[dict, bool, bool, Mutation]:
    """``(env, exec, stdout closed, mutation)``: a C locale with a non-ASCII path, a closed
    stdout, odd caches and homes."""
    how = draw(st.sampled_from(["locale", "pipe", "pipe", "home", "torch-home"]))
    if how == "locale":
        env = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": None}
        out = cmd.decl.outputs and "out" in places
        m = Mutation(note="LC_ALL=C with a non-ASCII output path") if out else Mutation(note="LC_ALL=C")
        if out:
            suffix = next(iter(cmd.decl.outputs.values())).suffixes
            m = m.but(place={"out": f"{ROOT}/out/données-é{suffix[0] if suffix else ''}"})
        return env, True, False, m
    if how == "pipe":
        return {}, False, True, Mutation(note="stdout closed by its reader")
    if how == "home":
        return (
            {"HOME": draw(st.sampled_from([None, "/nonexistent", f"{ROOT}/notes.txt"]))},
            False,
            False,
            Mutation(note="an odd HOME"),
        )
    return (
        {"TORCH_HOME": draw(st.sampled_from([f"{ROOT}/nope/x", f"{ROOT}/tiny.yaml", ""]))},
        False,
        False,
        Mutation(note="an odd TORCH_HOME"),
    )
