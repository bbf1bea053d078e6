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

from tests.cli.fuzz import artifacts, authors, configs, datasets, images, outputs
from tests.cli.fuzz.lines import ALTERNATIVES, environment, option_mutation, path_mutation, usage_mutation
from tests.cli.fuzz.mutation import ROOT, Mutation, replace_with
from tests.cli.fuzz.values import CONTROL
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
    "official": authors.official,
    "query": artifacts.features,
    "gallery": artifacts.features,
    "index": artifacts.index_folder,
    "run": artifacts.run_folder,
    "metrics": artifacts.metrics_file,
    "log": artifacts.training_log,
    "images": images.image_folder,
    "image": images.image_file,
    "dataset": lambda rel, pristine: datasets.dataset(pristine, trains=True),
}


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


# --------------------------------------------------------------------------- a case
#: (command, placeholder) whose alternatives (:data:`ALTERNATIVES`) it must refuse: ``visualize
#: attention`` needs CAM/PAM, which the run's and the authors' plain DEEN lack
REFUSED_ALTERNATIVES = {("visualize attention", "checkpoint")}


def _placed(ms: list[Mutation], ph: str) -> str | None:
    """The world path an earlier mutation gave ``ph`` (the faiss index instead of the exact one)."""
    for m in ms:
        where = m.place.get(ph, "")
        if where.startswith(f"{ROOT}/"):
            return where[len(ROOT) + 1 :]
    return None


def _through(first: Mutation, path: Mutation, ph: str, rel: str, cls: str) -> Mutation:
    """``first`` (drawn before) as seen through the path mutation of ``ph``: a renamed copy carries
    the mutated file under its new name, which a refusal names; another file in its place (an
    alternative) leaves a mutation of ``ph``'s file unread (unknown where the alternative refers to
    it: the manifest lists the image folder's images)."""
    if cls != f"input:{ph}":
        return first
    copy = next((o for o in path.ops if o[0] == "copy" and o[2] == rel), None)
    if copy is not None:
        new = Path(copy[1]).name
        return first.but(blame=tuple(new if b == Path(rel).name else b for b in first.blame))
    elsewhere = path.place.get(ph, "").rstrip("/")
    if elsewhere.startswith(f"{ROOT}/") and elsewhere[len(ROOT) + 1 :] not in ALTERNATIVES.get(ph, ()):
        return first
    if elsewhere.startswith(f"{ROOT}/") and elsewhere[len(ROOT) + 1 :] != rel:
        unread = ph != "images"
        return first.but(bad=False, ok=unread, warn=False, blame=(), not_said=())
    return first


def _synthetic_only(cmd: Command) -> bool:
    """A command that trains only on the synthetic dataset it generates (the demo)."""
    return any(kind.id == "demo-folder" for kind in cmd.decl.outputs.values())


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
            if (
                ph == "run"
                and cmd.action("device") is not None
                and one.ops
                and all("metrics.json" in str(o[1]) for o in one.ops)
            ):
                one = one.but(bad=False, blame=())  # one running the model (test) reads no metrics.json
        elif cls.startswith("path:"):
            ph = cls.split(":", 1)[1]
            rel = _placed(ms, ph) or world.places[ph]  # an input mutation may have chosen the file
            one = draw(path_mutation(ph, rel))
            if ms:
                ms[0] = _through(ms[0], one, ph, rel, picked[0])
            if (
                (cmd.name, ph) in REFUSED_ALTERNATIVES
                and one.ok
                and one.place.get(ph, "").rstrip("/") in (f"{ROOT}/{alt}" for alt in ALTERNATIVES.get(ph, ()))
            ):
                one = one.but(ok=False, bad=True, blame=(Path(one.place[ph]).name,))
        elif cls == "dataset":
            one = draw(datasets.dataset(pristine, trains=False))
        elif cls == "out":
            one = draw(
                outputs.situation(out_kind, "--out", inputs, world.priors, tuple(cmd.decl.rerun), world.can_mount)
            )
        else:  # overrides
            keys = configs.config_keys(str(pristine / world.places["config"]))[1]
            one = draw(configs.overrides(keys))
        if "data.synth=null" in one.words and _synthetic_only(cmd):  # the demo refuses a dataset it does not make
            one = one.but(ok=False, bad=True, warn=False, blame=("data.synth",))
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
