"""Grammar of output situations: what may already be at the path a command is asked to write.

Nothing (a new path, deep or oddly named), the user's file or folder, a file vireid wrote as the
same kind or as another, a vireid output folder of the same kind (with or without the user's
additions), a dataset, one of the command's inputs, a folder where a file goes and the reverse,
a link, a name no file system takes.  The user's files are sentinels: they must survive, except
a file at the output path itself when ``--overwrite`` says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import strategies as st

from tests.cli.fuzz.formats import Safetensors
from tests.cli.fuzz.mutation import ROOT, Mutation
from tests.cli.fuzz.values import file_name
from vireid.utils.kinds import KINDS, Kind
from vireid.utils.marks import json_mark, mark_text, text_header

USER = b"the user's own file\n"


def marked_file(kind: Kind) -> bytes | None:
    """A small file vireid would recognise as written by it, as ``kind`` (None: not made here)."""
    suffix = kind.suffixes[0] if kind.suffixes else ""
    if suffix == ".json":
        return json.dumps({"made": "earlier", **json_mark(kind)}).encode()
    if suffix == ".safetensors":
        import numpy as np

        return Safetensors({"vireid": kind.id}, {"x": np.zeros(2, np.float32)}).dump()
    if suffix == ".md":
        return (text_header(kind, "<!--") + "| a report |\n").encode()
    if suffix == ".yaml":
        return (text_header(kind) + "data: {}\n").encode()
    if suffix == ".jsonl":
        return (json.dumps({"step": 0, **json_mark(kind)}) + "\n").encode()
    if suffix == ".png":
        import io

        from PIL import Image, PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Software", mark_text(kind))
        buf = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buf, format="PNG", pnginfo=info)
        return buf.getvalue()
    if suffix == ".onnx":
        entry = b"\x0a\x08producer\x12\x06vireid"
        return b"\x08\x08" + b"\x72" + bytes([len(entry)]) + entry
    return None


def _other_kind(kind: Kind) -> Kind:
    """A kind of file vireid writes that is not ``kind``: one taking the same suffix where there
    is one (a training run's checkpoint where a features file goes), else any."""
    others = [k for k in KINDS.values() if k.folder is None and k is not kind and marked_file(k) is not None]
    same = [k for k in others if k.suffixes == kind.suffixes]
    return (same or others)[0]


@st.composite
def situation(
    draw,
    kind: Kind,
    option: str,
    inputs: dict[str, str],
    priors: dict[str, str],
    rerun: tuple[str, ...] = (),
    disks: bool = False,
) -> Mutation:
    """Where the output of ``kind`` goes, and what is there: ``place["out"]`` is its path."""
    suffix = kind.suffixes[0] if kind.suffixes else ""
    file_kind = kind.folder is None
    choices = ["new", "new", "deep", "name", "relative", "user", "dataset", "input", "parent-file", "long", "empty"]
    choices += ["same", "other", "wrong-suffix", "folder", "link-user"] if file_kind else ["file", "user-folder"]
    if file_kind and kind.suffixes[0] in (".safetensors", ".json"):
        choices.append("into-run")  # the run's best checkpoint, its metrics.json
    if kind.folder == "add":
        choices.append("user-named")
    if not file_kind and kind.id in priors:
        choices += ["prior", "prior", "prior-user"]
    if disks:
        choices += ["full-disk", "read-only"]
    how = draw(st.sampled_from(choices))
    out = f"out/new{suffix}"
    place = lambda rel: {"out": f"{ROOT}/{rel}"}  # noqa: E731
    if how == "new":
        return Mutation(place=place(out), note="a new path", ok=True)
    if how == "into-run":
        target = "run/checkpoints/best.safetensors" if suffix == ".safetensors" else "run/metrics.json"
        return Mutation(
            place=place(target),
            note=f"onto {target}",
            bad=True,
            sentinels=(target,),
            words=draw(st.sampled_from([(), ("--overwrite",)])),
            blame=(Path(target).name,),
        )
    if how == "user-named":  # the user's files under the names vireid writes there
        names = (
            "metrics.json",
            "config.yaml",
            "ablation.md",
            "results.json",
            "ranks.png",
            "features/query.safetensors",
        )
        ops = tuple(("write", f"{out}/{n}", USER) for n in names)
        words = draw(st.sampled_from([(), ("--overwrite",)]))
        return Mutation(  # --overwrite: the command may replace those it writes (README), so none is kept
            ops,
            "the user's files named as vireid's in the output folder",
            place=place(out),
            sentinels=() if words else tuple(f"{out}/{n}" for n in names),
            words=words,
        )
    if how == "full-disk":
        return Mutation(
            (("tmpfs", "out", "full"),), "the output on a full disk", place=place(out), bad=True, blame=("full",)
        )
    if how == "read-only":
        return Mutation(
            (("tmpfs", "out", "read-only"),),
            "the output in a read-only folder",
            place=place(out),
            bad=True,
            blame=("read-only", "permission"),
        )
    if how == "deep":
        return Mutation(place=place(f"out/a/b/c/new{suffix}"), note="a new path in new folders", ok=True)
    if how == "name":
        name, ctrl = draw(file_name(suffix))
        return Mutation(place=place(f"out/{name}"), note=f"the name {name!r}", ok=True)
    if how == "relative":
        return Mutation(
            place={"out": f"new{suffix}"}, note="a path relative to the working folder", ok=True, allow=("cwd",)
        )
    if how == "user":
        if file_kind:
            overwrite = draw(st.booleans())
            return Mutation(
                (("write", out, USER),),
                f"the user's file at the output{' with --overwrite' if overwrite else ''}",
                place=place(out),
                sentinels=() if overwrite else (out,),
                words=("--overwrite",) if overwrite else (),
                bad=not overwrite,
                ok=overwrite,
                blame=(Path(out).name, "--overwrite"),
            )
        return Mutation(
            (("write", f"{out}/mine.txt", USER),),
            "a folder of the user's at the output",
            place=place(out),
            sentinels=(f"{out}/mine.txt",),
            bad=kind.folder == "replace",
            blame=("mine.txt", out),
        )
    if how == "same":
        return Mutation((("write", out, marked_file(kind)),), f"{kind.noun} vireid wrote", place=place(out), ok=True)
    if how == "other":
        other = _other_kind(kind)
        target = f"out/other{suffix}"
        return Mutation(
            (("write", target, marked_file(other) if other.suffixes == kind.suffixes else marked_file(other)),),
            f"{other.noun} vireid wrote",
            place=place(target),
            sentinels=(target,),
            words=draw(st.sampled_from([(), ("--overwrite",)])),
        )
    if how == "wrong-suffix":
        bad_suffix = draw(st.sampled_from([".gif", "", ".txt", suffix + ".bak", suffix.upper()]))
        return Mutation(
            place=place(f"out/new{bad_suffix}"),
            note=f"the suffix {bad_suffix!r}",
            bad=bad_suffix.lower() not in kind.suffixes,
            ok=bad_suffix.lower() in kind.suffixes,
            blame=(bad_suffix or "suffix", kind.suffix_text()),
        )
    if how == "folder":
        return Mutation(
            (("mkdir", out),), "a folder at the output", place=place(out), bad=True, blame=(Path(out).name,)
        )
    if how == "file":
        return Mutation(
            (("write", out, USER),),
            "a file at the output folder",
            place=place(out),
            sentinels=(out,),
            bad=True,
            blame=(Path(out).name,),
        )
    if how == "user-folder":
        return Mutation(
            (("write", f"{out}/NOTES.txt", USER), ("write", f"{out}/myruns/r.txt", USER)),
            "the user's files in the output folder",
            place=place(out),
            sentinels=(f"{out}/NOTES.txt", f"{out}/myruns/r.txt"),
            words=draw(st.sampled_from([(), ("--overwrite",)])),
            bad=kind.folder == "replace",
            blame=("NOTES.txt", "myruns", out),
        )
    if how == "link-user":
        return Mutation(
            (("write", "user/thesis" + suffix, USER), ("symlink", out, f"{ROOT}/user/thesis{suffix}")),
            "a link to the user's file at the output",
            place=place(out),
            sentinels=(f"user/thesis{suffix}",),
            words=draw(st.sampled_from([(), ("--overwrite",)])),
        )
    if how == "prior":
        more: tuple[str, ...] = ()
        keep: tuple[str, ...] = ()
        if "--resume" in rerun and kind.id == "run-folder":  # resuming never rewrites the run's config
            keep = (f"{out}/config.yaml",)
            more = draw(st.sampled_from([(), ("train.epochs=2",)]))
        return Mutation(
            (("copy", out, priors[kind.id]),),
            f"{kind.noun} vireid wrote" + (f", again with {' '.join(rerun + more)}" if rerun else ""),
            place=place(out),
            words=rerun + more,
            sentinels=keep,
            ok=True,
        )
    if how == "prior-user":
        return Mutation(
            (
                ("copy", out, priors[kind.id]),
                ("write", f"{out}/NOTES.txt", USER),
                ("write", f"{out}/myruns/r.txt", USER),
            ),
            f"{kind.noun} vireid wrote, with the user's files added",
            place=place(out),
            sentinels=(f"{out}/NOTES.txt", f"{out}/myruns/r.txt"),
            words=rerun + draw(st.sampled_from([(), ("--overwrite",)])),
            bad=kind.folder == "replace",
            blame=("NOTES.txt", "myruns"),
        )
    if how == "dataset":
        target = draw(
            st.sampled_from(["dataset/cam1/0001/new", "dataset/exp/new", "regdb/Visible/new", "dataset", "image"])
        )
        if target == "image":  # an image of the dataset itself
            target = "dataset/cam1/0002/0001.jpg"
        elif target != "dataset":  # the dataset folder itself, whatever the output's kind
            target += suffix
        return Mutation(place=place(target), note=f"inside a dataset ({target})", bad=True, blame=("dataset",))
    if how == "input" and inputs:
        name = draw(st.sampled_from(sorted(inputs)))
        return Mutation(
            place={"out": inputs[name]}, note=f"the command's input {{{name}}}", bad=True, blame=("input", name)
        )
    if how == "parent-file":
        return Mutation(
            (("write", "out/afile", USER),),
            "a file where the output's folder goes",
            place=place(f"out/afile/new{suffix}"),
            sentinels=("out/afile",),
            bad=True,
            blame=("afile",),
        )
    if how == "long":
        return Mutation(
            place=place("out/" + "x" * 300 + suffix), note="a name longer than the file system takes", bad=True
        )
    return Mutation(place={"out": ""}, note="an empty path", bad=True, blame=("''",))
