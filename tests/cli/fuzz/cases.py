"""Cases for every command, generated from ``vireid``'s parser and the commands' declarations.

:func:`commands` walks the parser (every leaf, sub-sub-commands included); each command's
declaration (:func:`vireid.cli._common.declare`) gives its minimal valid invocation (with
``{placeholders}`` for the world's inputs and ``{out}``), its inputs and its outputs.  A case
starts from that invocation and mutates one thing -- sometimes two -- drawn from the grammars:
an input file or folder (:data:`INPUTS`, by placeholder), the dataset it reads, the path it is
given, an option's value, the command line's shape, config overrides, the output situation, the
environment.  A command added to the parser is fuzzed as soon as it is declared; a placeholder
without a grammar fails ``tests/cli/test_fuzz.py``.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hypothesis import strategies as st

from tests.cli.fuzz import artifacts, configs, datasets, outputs
from tests.cli.fuzz.mutation import ROOT, Mutation, replace_with
from tests.cli.fuzz.values import CONTROL, file_name
from tests.cli.world import leaves

CWD = "cwd/a/b"  # the working folder of a case, deep enough that "../.." stays in the case


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    parser: argparse.ArgumentParser
    decl: object  # vireid.cli._common.Declaration

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def placeholders(self) -> list[str]:
        import re

        found = []
        for word in self.decl.example:
            for m in re.finditer(r"\{(\w+)\}", word):
                if m.group(1) != "out" and m.group(1) not in found:
                    found.append(m.group(1))
        return found

    def action(self, dest: str) -> argparse.Action | None:
        return next((a for a in self.parser._actions if a.dest == dest), None)


def commands() -> list[Command]:
    from vireid.cli.main import build_parser

    return [Command(path, p, p.get_default("_declaration")) for path, p in leaves(build_parser())]


@dataclass
class Case:
    command: str
    argv: list[str]
    ops: tuple = ()
    ok: bool = False
    bad: bool = False
    warn: bool = False
    blame: tuple[str, ...] = ()
    sentinels: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    exec_: bool = False
    stdout_closed: bool = False
    raw: tuple[str, ...] = ()  # text that must never be printed as it is (control characters)
    note: str = ""
    classes: tuple[str, ...] = ()  # the classes of mutation drawn
    not_said: tuple[str, ...] = ()  # words a refusal must not say

    def repro(self) -> str:
        """The case in words a developer can replay (the files, the command line)."""
        ops = "; ".join(f"{o[0]} {o[1]}" + (f" ({len(o[2])} bytes)" if o[0] == "write" else "") for o in self.ops)
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        line = " ".join(shlex.quote(a if len(a) < 300 else a[:120] + f"...<{len(a)} characters>") for a in self.argv)
        return f"[{self.note}] files: {ops or 'as built'}; {env + ' ' if env else ''}vireid {line}"


#: placeholder -> (relative path in the world, pristine world root) -> strategy of mutations
INPUTS: dict[str, Callable[[str, Path], st.SearchStrategy[Mutation]]] = {
    "config": configs.config_file,
    "checkpoint": artifacts.checkpoint,
    "official": artifacts.official,
    "query": artifacts.features,
    "gallery": artifacts.features,
    "index": artifacts.index_folder,
    "run": artifacts.run_folder,
    "metrics": artifacts.metrics_file,
    "log": artifacts.training_log,
    "images": artifacts.image_folder,
    "image": artifacts.image_file,
    "dataset": lambda rel, pristine: datasets.dataset(pristine, trains=True),
}
#: other valid values of a placeholder (world paths): a checkpoint as a run folder, its checkpoints
#: folder, a run's best checkpoint or the authors' file; an index built with faiss
ALTERNATIVES = {
    "checkpoint": ("run", "run/checkpoints", "run/checkpoints/best.safetensors", "authors_best.t"),
    "index": ("faiss.index-folder",),
    "images": ("manifest.csv",),
}
#: placeholders naming folders (the rest are files)
FOLDERS = ("dataset", "images", "index", "run")


def _fill(words, places: dict[str, str]) -> list[str]:
    return [w.format(**places) for w in words]


def _combine(a: Mutation, b: Mutation) -> Mutation:
    """Two mutations at once: wrong if either is, valid if both are; a refusal must name the
    culprit only where the other part is certainly valid (else either may be named)."""
    known = (a.ok or a.bad) and (b.ok or b.bad) and not (a.bad and b.bad and not (a.blame and b.blame))
    return Mutation(
        ops=a.ops + b.ops,
        note=f"{a.note} + {b.note}",
        bad=a.bad or b.bad,
        blame=(a.blame if a.bad else ()) + (b.blame if b.bad else ()) if known else (),
        sentinels=a.sentinels + b.sentinels,
        allow=a.allow + b.allow,
        words=a.words + b.words,
        place={**a.place, **b.place},
        ok=a.ok and b.ok,
        warn=a.warn and b.warn,
        not_said=a.not_said + b.not_said,
        raw=a.raw + b.raw,
    )


# --------------------------------------------------------------------------- classes of mutation
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
    if a.type is int:
        v = draw(
            st.sampled_from(
                ["-1", "0", "1", "2", "3", "2147483648", "9223372036854775808", "10" * 15, "abc", "1.5", ""]
            )
        )
        try:
            int(v)
            bad = False
        except ValueError:
            bad = True
        if a.dest in ("seed",) and not bad:
            bad = not 0 <= int(v) < 2**63
        return Mutation(words=(opt, v), note=f"{opt} {v!r}", bad=bad, blame=blame)
    if a.type is float:
        v = draw(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e308", "0.5", "abc", "1e-300"]))
        bad = v in ("nan", "abc")
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


# --------------------------------------------------------------------------- a case
def classes(cmd: Command) -> list[str]:
    out = ["valid", "option", "usage", "env"]
    out += [f"input:{ph}" for ph in cmd.placeholders if ph in INPUTS]
    out += [f"path:{ph}" for ph in cmd.placeholders]
    if "run" in cmd.placeholders and "dataset" not in cmd.placeholders and cmd.action("overrides") is not None:
        out.append("dataset")  # read through the run's config (data.root=... among the overrides)
    if cmd.decl.outputs:
        out += ["out", "out"]
    if cmd.action("overrides") is not None:
        out += ["overrides", "overrides"]
    return out


def _overrides_words(cmd: Command, words: tuple[str, ...]) -> tuple[str, ...]:
    """``words`` as overrides on this command's line (``ablate`` takes them after ``--set``)."""
    a = cmd.action("overrides")
    if a is not None and a.option_strings:
        return (a.option_strings[0], *words)
    return words


@st.composite
def case(draw, cmd: Command, world) -> Case:
    """One case for ``cmd`` in the fuzz world ``world`` (:class:`tests.cli.fuzz.world.FuzzWorld`)."""
    pristine = world.root
    places = {k: f"{ROOT}/{v}" for k, v in world.places.items()}
    out_kind = next(iter(cmd.decl.outputs.values()), None)
    places["out"] = f"{ROOT}/out/new{out_kind.suffixes[0] if out_kind and out_kind.suffixes else ''}"
    inputs = {ph: places[ph] for ph in cmd.placeholders}
    env, exec_, closed = {}, False, False
    picked = [draw(st.sampled_from(classes(cmd)))]
    if picked[0] not in ("valid", "usage", "env") and draw(st.integers(0, 4)) == 0:
        others = [c for c in classes(cmd) if c not in ("valid", "usage", "env", picked[0])]
        if picked[0] == "out" or picked[0].startswith("path:"):  # the output may be an input's path
            others = [c for c in others if c != "out" and not c.startswith("path:")]
        if others:
            picked.append(draw(st.sampled_from(others)))
            picked.sort(key=lambda c: c.startswith("path:"))  # a renamed copy carries the file's mutation
    usage = False
    ms = []
    for cls in picked:
        if cls == "valid":
            one = Mutation(note="the example as declared", ok=True)
        elif cls == "option":
            one = draw(option_mutation(cmd))
        elif cls == "usage":
            usage, one = True, Mutation()
        elif cls == "env":
            env, exec_, closed, one = draw(environment(cmd, places))
        elif cls.startswith("input:"):
            ph = cls.split(":", 1)[1]
            one = draw(INPUTS[ph](world.places[ph], pristine))
            if ph == "run" and cmd.action("device") is None and any("/checkpoints" in str(o[1]) for o in one.ops):
                one = one.but(bad=False, blame=())  # a command running no model (report) reads no checkpoint
        elif cls.startswith("path:"):
            ph = cls.split(":", 1)[1]
            one = draw(path_mutation(ph, world.places[ph]))
        elif cls == "dataset":
            one = draw(datasets.dataset(pristine, trains=False))
        elif cls == "out":
            one = draw(
                outputs.situation(out_kind, "--out", inputs, world.priors, tuple(cmd.decl.rerun), world.can_mount)
            )
        else:  # overrides
            keys = configs.config_keys(str(pristine / world.places["config"]))[1]
            one = draw(configs.overrides(keys))
        if one.words and cls in ("overrides", "dataset", "input:dataset"):
            if cmd.action("overrides") is None:
                one = one.but(ok=False)  # a command without overrides refuses them: a usage error
            one = one.but(words=_overrides_words(cmd, one.words))
        ms.append(one)
    m = ms[0] if len(ms) == 1 else _combine(ms[0], ms[1])
    filled = {**places, **m.place}
    argv = _fill(cmd.decl.example, filled) + list(m.words)
    if usage:
        argv, u = draw(usage_mutation(cmd, argv))
        m = u if not m.note else _combine(m, u)
    raw = tuple(part for a in argv for part in a.split("/") if any(c in part for c in CONTROL)) + m.raw
    if closed or cmd.decl.writes:  # stdout gone; a download from a network the cases do not have
        m = m.but(ok=False)
    return Case(
        cmd.name,
        argv,
        ops=m.ops,
        ok=m.ok,
        bad=m.bad,
        warn=m.warn,
        blame=m.blame,
        sentinels=m.sentinels,
        allow=m.allow,
        env=env,
        exec_=exec_,
        stdout_closed=closed,
        raw=raw,
        note=m.note,
        classes=tuple(picked),
        not_said=m.not_said,
    )


__all__ = ["CWD", "Case", "Command", "INPUTS", "case", "classes", "commands", "replace_with"]
