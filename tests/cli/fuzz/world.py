"""The fuzz world: every input a command reads, valid, copied afresh for each case.

It extends the commands' world (:mod:`tests.cli.world`: a SYSU-layout synthetic dataset, a config,
checkpoints, features files, a trained run, an index, an authors' checkpoint) with RegDB and LLCM
layouts, a CSV manifest and, on request, a vireid output of each folder kind.  A case works on a
copy (:meth:`FuzzWorld.copy`) moved to a folder of its own: the paths files store (a run's
``config.yaml``, an index's entries, features files' image paths, checkpoint metadata) are
rewritten to the copy's, safetensors headers included, so a copy is as valid as the original.

:func:`snapshot` and :func:`changes` compare a folder before and after a case: every file's bytes
(SHA-256), size and modification time, every link's target, every folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

from tests.cli.world import World

#: the datasets of the world (placeholder -> layout), beside the commands' SYSU-layout ``{dataset}``
LAYOUTS = {"dataset": "sysu", "regdb": "regdb", "llcm": "llcm"}


@dataclass
class FuzzWorld:
    """The pristine world at ``root``; ``places``: placeholder -> path relative to ``root``."""

    root: Path
    places: dict[str, str]
    priors: dict[str, str] = field(default_factory=dict)  # kind id -> a folder of that kind vireid wrote
    can_mount: bool = False  # a full disk and a read-only folder can be made (a tmpfs)

    def copy(self, dest: Path) -> Path:
        """A copy of the world at ``dest`` with every stored path moved there."""
        relocate(self.root, dest)
        return dest


def build(base: World, root: Path) -> FuzzWorld:
    """The fuzz world under ``root`` (a new folder) from the commands' world ``base``."""
    from vireid.data.synth import generate

    relocate(base.root, root)
    places = {k: os.path.relpath(v, base.root) for k, v in base.places.items()}
    for name in ("regdb", "llcm"):
        generate(
            root / name,
            name,
            num_ids=4,
            num_test_ids=2,
            images_per_id_per_cam=1,
            height_range=(40, 48),
            difficulty=0.3,
        )
        places[name] = name
    images = sorted(p for p in (root / places["images"]).rglob("*") if p.suffix.lower() in (".png", ".jpg"))
    lines = ["path,pid,camid,modality"]
    for p in images:
        cam = int(p.parts[-3][3:]) if p.parts[-3].startswith("cam") else 1
        lines.append(
            f"{os.path.relpath(p, root)},{int(p.parent.name)},{cam},{'infrared' if cam in (3, 6) else 'visible'}"
        )
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    places["manifest"] = "manifest.csv"
    _faiss_index(root, places)
    from tests.cli.fuzz.mutation import can_mount
    from vireid.utils.kinds import DATASET, INDEX, RUN_FOLDER

    priors = {DATASET.id: places["dataset"], INDEX.id: places["index"], RUN_FOLDER.id: places["run"]}
    return FuzzWorld(root, places, priors, can_mount(root.parent))


def _faiss_index(root: Path, places: dict[str, str]) -> None:
    """The world's gallery indexed with faiss too (``faiss.index-folder``), where faiss is installed."""
    import contextlib
    import io

    from vireid.cli.main import main

    try:
        import faiss  # noqa: F401
    except ImportError:
        return
    with contextlib.redirect_stdout(io.StringIO()):
        main(
            [
                "index",
                "build",
                "--checkpoint",
                str(root / places["checkpoint"]),
                "--gallery",
                str(root / places["images"] / "cam1"),
                "--modality",
                "visible",
                "--backend",
                "faiss-flat",
                "--out",
                str(root / "faiss.index-folder"),
                "--no-progress",
            ]
        )


# --------------------------------------------------------------------------- relocation
def _moved_safetensors(data: bytes, old: bytes, new: bytes) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    header = data[8 : 8 + n]
    if old not in header:
        return data
    header = header.replace(old, new).rstrip(b" ")
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data[8 + n :]


def relocate(src: Path, dest: Path) -> None:
    """Copy the folder ``src`` to ``dest`` (which must not exist), replacing ``src``'s absolute path
    by ``dest``'s in every file and link that stores it."""
    old, new = str(src).encode(), str(dest).encode()
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        there = dest / here.relative_to(src)
        there.mkdir(parents=True, exist_ok=True)
        for name in dirnames + filenames:
            s, d = here / name, there / name
            if s.is_symlink():
                os.symlink(os.readlink(s).replace(str(src), str(dest)), d)
                if name in dirnames:
                    dirnames.remove(name)
                continue
            if name in dirnames:
                continue
            data = s.read_bytes()
            if old in data:
                data = _moved_safetensors(data, old, new) if name.endswith(".safetensors") else data.replace(old, new)
            d.write_bytes(data)
            shutil.copymode(s, d)


# --------------------------------------------------------------------------- snapshots
Entry = tuple  # ("file", size, mtime_ns, sha256) | ("link", target) | ("dir",)


def snapshot(root: Path) -> dict[str, Entry]:
    """Every file, link and folder under ``root`` (relative POSIX paths, ``"."`` for ``root``)."""
    out: dict[str, Entry] = {}
    if not os.path.lexists(root):
        return out

    def entry(p: Path) -> Entry:
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            return ("link", os.readlink(p))
        if stat.S_ISDIR(st.st_mode):
            return ("dir",)
        if not stat.S_ISREG(st.st_mode):  # a pipe, a device: never opened
            return ("special", stat.S_IFMT(st.st_mode))
        try:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError as exc:  # unreadable (a case made it so): its metadata still counts
            digest = f"unreadable: {exc.strerror}"
        return ("file", st.st_size, st.st_mtime_ns, digest)

    out["."] = entry(root)
    if out["."][0] != "dir":
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in dirnames + filenames:
            p = here / name
            out[p.relative_to(root).as_posix()] = entry(p)
    return out


def changes(before: dict[str, Entry], after: dict[str, Entry]) -> dict[str, str]:
    """``{relative path: "added" | "removed" | "changed"}``."""
    out = {}
    for k in before.keys() | after.keys():
        if k not in after:
            out[k] = "removed"
        elif k not in before:
            out[k] = "added"
        elif before[k] != after[k] and not (before[k][0] == after[k][0] == "dir"):
            out[k] = "changed"
    return out
