"""A mutation of the fuzz world, and the mutations every file or folder can undergo.

A :class:`Mutation` is a list of file operations on a case's copy of the world (paths relative
to it; ``@ROOT@`` in contents, link targets and command-line words stands for its absolute
path), words added to the command line, and what the case must then do: ``bad`` -- the input is
certainly wrong, so the command must refuse it (exit 2, one line); ``blame`` -- words of which a
refusal must name one (the file, the key, the option: a refusal naming something else is a wrong
diagnosis); ``sentinels`` -- the user's files, which must survive; ``allow`` -- paths a config
makes an output (a synthetic dataset at ``data.root``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from hypothesis import strategies as st

ROOT = "@ROOT@"


@dataclass(frozen=True)
class Mutation:
    ops: tuple = ()
    note: str = ""
    bad: bool = False
    blame: tuple[str, ...] = ()
    sentinels: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    words: tuple[str, ...] = ()  # command-line words appended (overrides the mutation needs)
    place: dict = field(default_factory=dict)  # placeholder -> its new value (``@ROOT@/...``)
    ok: bool = False  # certainly valid: the command must succeed
    warn: bool = False  # wrong, but a warning naming it (exit 0) is an answer too
    not_said: tuple[str, ...] = ()  # words a refusal must not say (a cause that is not the cause)
    raw: tuple[str, ...] = ()  # text the command must never print as it is (control characters)

    def but(self, **kw) -> Mutation:
        return replace(self, **kw)


def apply(ops: tuple, root: Path, pristine: Path) -> list[Path]:
    """Carry out ``ops`` in the case folder ``root`` (a copy of ``pristine``); returns the file
    systems mounted (to unmount after the case)."""
    import shutil

    from tests.cli.fuzz.world import _moved_safetensors

    def sub(text: str) -> str:
        return text.replace(ROOT, str(root))

    mounts: list[Path] = []
    for op in ops:
        kind, rel = op[0], op[1]
        p = root / sub(rel) if not os.path.isabs(sub(rel)) else Path(sub(rel))
        if kind in ("write", "append"):
            data = op[2]
            old, new = str(pristine).encode(), str(root).encode()
            data = data.replace(ROOT.encode(), new)
            if old in data:
                data = _moved_safetensors(data, old, new) if p.suffix == ".safetensors" else data.replace(old, new)
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(p, "ab" if kind == "append" else "wb") as fh:
                fh.write(data)
        elif kind == "mkdir":
            p.mkdir(parents=True, exist_ok=True)
        elif kind == "remove":
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif os.path.lexists(p):
                p.unlink()
        elif kind == "symlink":
            p.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(sub(op[2]), p)
        elif kind == "fifo":
            p.parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(p)
        elif kind == "copy":  # as ``cp -P``: a link is copied as the link (a dangling one too), a pipe as a pipe
            src = root / sub(op[2])
            p.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():
                os.symlink(os.readlink(src), p)
            elif src.is_fifo():
                os.mkfifo(p)
            elif src.is_dir():
                shutil.copytree(src, p, symlinks=True)
            else:
                shutil.copyfile(src, p)
        elif kind == "tmpfs":  # a small disk of its own: filled to the last byte, or read-only
            mounts.append(mount_tmpfs(p, read_only=op[2] == "read-only"))
            if op[2] == "full":
                from tests.conftest import fill

                fill(p)
        else:  # pragma: no cover
            raise ValueError(kind)
    return mounts


def mount_tmpfs(where: Path, *, read_only: bool = False) -> Path:
    import subprocess

    where.mkdir(parents=True, exist_ok=True)
    opts = "size=2m" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], check=True, capture_output=True)
    return where


def unmount(where: Path) -> None:
    import subprocess

    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def can_mount(scratch: Path) -> bool:
    """Whether this process may mount a tmpfs (root in most containers; not elsewhere)."""
    probe = scratch / ".mount-probe"
    try:
        mount_tmpfs(probe)
    except (OSError, Exception):  # noqa: BLE001 - CalledProcessError, no mount binary...
        return False
    unmount(probe)
    probe.rmdir()
    return True


def replace_with(rel: str, *ops: tuple) -> tuple:
    return (("remove", rel), *ops)


@st.composite
def any_file(draw, rel: str, data: bytes, *, structured: bool, what: str) -> Mutation:
    """What can happen to any file: emptied, truncated, garbage, a folder, a pipe, a link to
    nowhere or to an endless device -- and a link to a good copy (valid)."""
    name = Path(rel).name
    choice = draw(
        st.sampled_from(["empty", "truncate", "garbage", "prefix", "folder", "fifo", "dangling", "device", "link"])
    )
    blame = (name,)
    # emptied or cut, a text file (a config) may still be valid: one of defaults, whose refusal
    # names what the defaults lack (model.pretrained), not the file
    cut_blame = blame if structured else ()
    if choice == "empty":
        return Mutation((("write", rel, b""),), f"{what} emptied", bad=structured, blame=cut_blame)
    if choice == "truncate":
        cut = draw(st.integers(0, max(0, len(data) - 1)))
        return Mutation(
            (("write", rel, data[:cut]),), f"{what} truncated at byte {cut}", bad=structured, blame=cut_blame
        )
    if choice == "garbage":
        junk = draw(st.binary(min_size=1, max_size=64))
        return Mutation((("write", rel, junk),), f"{what} replaced by bytes {junk!r}", bad=structured, blame=blame)
    if choice == "prefix":
        junk = draw(st.sampled_from([b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"#", b"\x1b[2J"]))
        return Mutation((("write", rel, junk + data),), f"{what} prefixed with {junk!r}", blame=blame)
    if choice == "folder":
        return Mutation(
            replace_with(rel, ("mkdir", rel)), f"{what} is a folder", bad=True, blame=blame, not_said=("not found",)
        )
    if choice == "fifo":
        return Mutation(
            replace_with(rel, ("fifo", rel)), f"{what} is a named pipe", bad=True, blame=blame, not_said=("not found",)
        )
    if choice == "dangling":
        return Mutation(
            replace_with(rel, ("symlink", rel, f"{ROOT}/nowhere/{name}")),
            f"{what} is a dangling link",
            bad=True,
            blame=blame,
        )
    if choice == "device":
        dev = draw(st.sampled_from(["/dev/zero", "/dev/urandom", "/dev/null"]))
        return Mutation(replace_with(rel, ("symlink", rel, dev)), f"{what} is a link to {dev}", bad=True, blame=blame)
    return Mutation(
        (("copy", rel + ".real", rel), ("remove", rel), ("symlink", rel, f"{ROOT}/{rel}.real")),
        f"{what} is a link to a good copy",
    )


@st.composite
def any_folder(draw, rel: str, what: str) -> Mutation:
    """What can happen to any input folder: emptied, a file, a link to nowhere, a link to a good copy."""
    choice = draw(st.sampled_from(["empty", "file", "dangling", "link", "loop"]))
    name = Path(rel).name
    if choice == "empty":
        return Mutation(replace_with(rel, ("mkdir", rel)), f"{what} emptied", bad=True, blame=(name,))
    if choice == "file":
        return Mutation(
            replace_with(rel, ("write", rel, b"not a folder\n")), f"{what} is a file", bad=True, blame=(name,)
        )
    if choice == "dangling":
        return Mutation(replace_with(rel, ("symlink", rel, f"{ROOT}/nowhere")), f"{what} is a dangling link", bad=True)
    if choice == "loop":
        return Mutation((("symlink", f"{rel}/loop", "."),), f"{what} holds a link to itself")
    return Mutation(
        (("copy", rel + ".real", rel), ("remove", rel), ("symlink", rel, f"{ROOT}/{rel}.real")),
        f"{what} is a link to a good copy",
    )
