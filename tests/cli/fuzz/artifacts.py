"""Grammars of the files vireid reads back: checkpoints (vireid's and the authors'), features
files, index folders, run folders, images -- each mutated from the world's valid one.

Every structural element is a target: a metadata field (deleted, of another type, a version this
vireid does not know, JSON that does not parse), a tensor (another dtype, NaN or inf values,
another shape, missing, a header claiming a billion rows), the header itself (not JSON, a length
beyond the file), and the file as a whole (:func:`tests.cli.fuzz.mutation.any_file`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from tests.cli.fuzz.configs import config_file
from tests.cli.fuzz.formats import Safetensors, json_paths, json_with_duplicate, raw_safetensors
from tests.cli.fuzz.mutation import ROOT, Mutation, any_file, any_folder

JUNK_META = ("", "abc", "{", "[]", "null", "99", '{"a": 1}', "\x00", "é" * 3)


def _floats(t: Safetensors) -> list[str]:
    return [k for k, v in t.tensors.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size]


@st.composite
def safetensors_file(draw, rel: str, data: bytes, what: str, *, required_meta: tuple[str, ...] = ()) -> Mutation:
    """A safetensors file's metadata, tensors or header mutated."""
    t = Safetensors.parse(data)
    name = Path(rel).name
    blame = (name,)
    kind = draw(st.sampled_from(["meta", "meta", "tensor", "tensor", "header", "file"]))
    if kind == "meta" and t.meta:
        key = draw(st.sampled_from(sorted(t.meta)))
        how = draw(st.sampled_from(["delete", "junk", "version", "json"]))
        meta = dict(t.meta)
        if how == "delete":
            del meta[key]
            note, bad = f"{what}: metadata {key!r} removed", key in required_meta
        elif how == "version" or key in ("version", "format"):
            meta[key] = draw(st.sampled_from(["99", "0", "vireid.features/99", "vireid-model-2", "1.0"]))
            note, bad = f"{what}: metadata {key}={meta[key]!r}", key in ("version", "format")
        elif how == "json" and meta[key].startswith(("{", "[")):
            doc = json.loads(meta[key])
            paths = json_paths(doc)
            if paths:
                path = draw(st.sampled_from(paths))
                value = draw(st.sampled_from([None, "abc", -1, 10**12, [], {}, float("nan"), True]))
                from tests.cli.fuzz.formats import json_edit

                doc = json_edit(doc, path, value)
            meta[key] = json.dumps(doc)
            note, bad = f"{what}: metadata {key} changed at {paths[:1] and path}", False
        else:
            meta[key] = draw(st.sampled_from(JUNK_META))
            note, bad = f"{what}: metadata {key}={meta[key]!r}", key in required_meta and meta[key] != t.meta[key]
        t.meta = meta
        return Mutation((("write", rel, t.dump()),), note, bad=bad, blame=blame + (key,))
    if kind == "tensor" and t.tensors:
        names = sorted(t.tensors)
        key = draw(st.sampled_from(_floats(t) or names))
        how = draw(st.sampled_from(["nan", "inf", "int", "shape", "delete", "huge", "extra", "f16", "overflow"]))
        shapes = None
        v = t.tensors[key]
        arr = v if isinstance(v, np.ndarray) else None
        if how in ("nan", "inf") and arr is not None and arr.dtype.kind == "f" and arr.size:
            arr = arr.copy()
            arr.flat[draw(st.integers(0, arr.size - 1))] = np.nan if how == "nan" else np.inf
            t.tensors[key] = arr
        elif how == "overflow" and arr is not None and arr.dtype.kind == "f":
            t.tensors[key] = (arr.astype(np.float64) * 1e30).clip(-3e38, 3e38).astype(arr.dtype)  # finite
        elif how == "int" and arr is not None:
            t.tensors[key] = arr.astype(np.int32)
        elif how == "f16" and arr is not None and arr.dtype.kind == "f":
            t.tensors[key] = arr.astype(np.float16)
        elif how == "shape" and arr is not None and arr.size > 1:
            t.tensors[key] = arr.reshape(-1)[:-1] if arr.ndim == 1 else arr.reshape(-1)
        elif how == "delete":
            del t.tensors[key]
        elif how == "huge" and arr is not None:
            shapes = {key: [10**9] + list(arr.shape[1:])}
        elif how == "extra":
            t.tensors["extra.tensor"] = np.zeros(3, np.float32)
        else:
            how = "unchanged"
        bad = how in ("nan", "inf", "int", "shape", "delete", "huge")
        not_said = ("weights are not finite",) if how == "overflow" else ()
        return Mutation(
            (("write", rel, t.dump(shapes=shapes)),),
            f"{what}: tensor {key} {how}",
            bad=bad,
            blame=blame + (key,),
            not_said=not_said,
        )
    if kind == "header":
        how = draw(st.sampled_from(["not-json", "length", "offsets", "list", "dtype"]))
        n = int.from_bytes(data[:8], "little")
        header = data[8 : 8 + n]
        if how == "not-json":
            out = raw_safetensors(header[: len(header) // 2], data[8 + n :])
        elif how == "length":
            out = raw_safetensors(header, data[8 + n :], claimed=draw(st.sampled_from([2**40, len(data), 0, 1])))
        elif how == "offsets":
            out = data[: 8 + n] + data[8 + n : 8 + n + (len(data) - 8 - n) // 2]
        elif how == "list":
            out = raw_safetensors(b"[1, 2, 3]     ", b"")
        else:
            # the first tensor's dtype, whatever it is (a features file may hold F64)
            out = re.sub(rb'"dtype":\s*"[A-Z]+[0-9]*"', b'"dtype":"Q99"', data[: 8 + n], count=1) + data[8 + n :]
        return Mutation((("write", rel, out),), f"{what}: header {how}", bad=True, blame=blame)
    return draw(any_file(rel, data, structured=True, what=what))


def checkpoint(rel: str, pristine: Path, what: str = "the checkpoint") -> st.SearchStrategy[Mutation]:
    return safetensors_file(
        rel, (pristine / rel).read_bytes(), what, required_meta=("format", "architecture", "kwargs", "version")
    )


def features(rel: str, pristine: Path) -> st.SearchStrategy[Mutation]:
    # no metadata is required: a file another tool made (no 'format') is read as version 1
    return safetensors_file(rel, (pristine / rel).read_bytes(), "the features file")


# --------------------------------------------------------------------------- JSON documents
@st.composite
def json_file(draw, rel: str, data: bytes, what: str, *, required: tuple[str, ...] = ()) -> Mutation:
    """A JSON document mutated: a value of another type, a key removed or given twice, the top
    level of another type, NaN, a version from the future."""
    doc = json.loads(data)
    name = Path(rel).name
    how = draw(st.sampled_from(["value", "value", "delete", "duplicate", "top", "version", "file"]))
    paths = json_paths(doc)
    if how == "value" and paths:
        from tests.cli.fuzz.formats import json_edit

        path = draw(st.sampled_from(paths))
        value = draw(st.sampled_from([None, "abc", -1, 0, 10**30, 1.5, [], {}, True, float("nan"), "\n"]))
        text = json.dumps(json_edit(doc, path, value))
        top = str(path[0])
        return Mutation(
            (("write", rel, text.encode()),),
            f"{what}: {'/'.join(map(str, path))} = {value!r}",
            blame=(name, top, str(path[-1])),
        )
    if how == "delete" and paths:
        from tests.cli.fuzz.formats import json_edit

        path = draw(st.sampled_from(paths))
        text = json.dumps(json_edit(doc, path, delete=True))
        bad = len(path) == 1 and path[0] in required
        return Mutation(
            (("write", rel, text.encode()),),
            f"{what}: {'/'.join(map(str, path))} removed",
            bad=bad,
            blame=(name, str(path[-1])),
        )
    if how == "duplicate" and isinstance(doc, dict) and doc:
        key = draw(st.sampled_from(sorted(doc)))
        value = draw(st.sampled_from([doc[key], None, "abc", 99]))
        text = json_with_duplicate(doc, key, value)
        return Mutation(
            (("write", rel, text.encode()),), f"{what}: {key!r} given twice", bad=value != doc[key], blame=(name, key)
        )
    if how == "top":
        text = draw(st.sampled_from(["[]", "null", "1", '"x"', json.dumps([doc])]))
        return Mutation(
            (("write", rel, text.encode()),), f"{what}: the top level is {text[:10]!r}", bad=True, blame=(name,)
        )
    if how == "version" and isinstance(doc, dict) and "version" in doc:
        v = draw(st.sampled_from([99, "1", 0, -1, None, 1.5]))
        text = json.dumps({**doc, "version": v})
        return Mutation((("write", rel, text.encode()),), f"{what}: version {v!r}", bad=v != 1, blame=(name, "version"))
    return draw(any_file(rel, data, structured=True, what=what))


def metrics_file(rel: str, pristine: Path) -> st.SearchStrategy[Mutation]:
    return json_file(rel, (pristine / rel).read_bytes(), "the metrics.json", required=("directions", "protocol"))


@st.composite
def training_log(draw, rel: str, pristine: Path) -> Mutation:
    """A run's ``metrics.jsonl``: the last line cut short (a crash: valid), a line of garbage, of
    another JSON type or nested deeply, a value of another type, no record with a step -- and what
    can happen to any file (its lines are not all needed, so emptied or cut it may still be read)."""
    data = (pristine / rel).read_bytes()
    lines = data.decode().splitlines()
    name = Path(rel).name
    how = draw(st.sampled_from(["cut", "line", "value", "no-step", "file"]))
    if how == "cut":
        text = "\n".join(lines[:-1] + [lines[-1][: len(lines[-1]) // 2]])
        return Mutation((("write", rel, text.encode()),), f"{name}: its last line cut short", ok=True)
    if how == "line":
        junk = draw(st.sampled_from(["{", "[1, 2]", "null", "\u00ff\u0000", "[" * 5000, '{"step": "x"}', "{}"]))
        i = draw(st.integers(1, len(lines)))
        text = "\n".join(lines[:i] + [junk] + lines[i:]) + "\n"
        return Mutation((("write", rel, text.encode()),), f"{name}: a line {junk[:12]!r}")
    if how == "value":
        records = [json.loads(line) for line in lines]
        i = draw(st.integers(1, len(records) - 1))
        key = draw(st.sampled_from(sorted(records[i])))
        records[i][key] = draw(st.sampled_from([None, "abc", float("nan"), 1e308, -1, [], {}]))
        text = "\n".join(json.dumps(r) for r in records) + "\n"
        return Mutation((("write", rel, text.encode()),), f"{name}: line {i + 1} {key} = {records[i][key]!r}")
    if how == "no-step":
        records = [{k: v for k, v in json.loads(line).items() if k != "step"} for line in lines]
        text = "\n".join(json.dumps(r) for r in records) + "\n"
        return Mutation((("write", rel, text.encode()),), f"{name}: no record has a step", bad=True, blame=(name,))
    return draw(any_file(rel, data, structured=False, what=f"the run's {name}"))


# --------------------------------------------------------------------------- folders
FAISS_INDEX = "faiss.index-folder"  # the world's index built with --backend faiss-flat


@st.composite
def index_folder(draw, rel: str, pristine: Path) -> Mutation:
    """An index folder (the exact one or the faiss one): its ``index.json``, its
    ``feats.safetensors``, its ``faiss.index``, its files."""
    if (pristine / FAISS_INDEX).is_dir() and draw(st.booleans()):
        m = draw(_index_folder(FAISS_INDEX, pristine))
        return m.but(place={"index": f"{ROOT}/{FAISS_INDEX}", **m.place})
    return draw(_index_folder(rel, pristine))


@st.composite
def _index_folder(draw, rel: str, pristine: Path) -> Mutation:
    folder = pristine / rel
    parts = ["json", "json", "feats", "files", "folder"] + (["faiss"] if (folder / "faiss.index").is_file() else [])
    part = draw(st.sampled_from(parts))
    if part == "json":
        m = draw(
            json_file(
                f"{rel}/index.json",
                (folder / "index.json").read_bytes(),
                "the index's index.json",
                required=("entries", "format", "version", "model", "modality", "backend"),
            )
        )
        return m.but(blame=m.blame + (Path(rel).name,))
    if part == "feats":
        m = draw(
            safetensors_file(
                f"{rel}/feats.safetensors", (folder / "feats.safetensors").read_bytes(), "the index's feats"
            )
        )
        return m.but(blame=m.blame + (Path(rel).name,))
    if part == "faiss":
        m = draw(
            any_file(f"{rel}/faiss.index", (folder / "faiss.index").read_bytes(), structured=True, what="faiss.index")
        )
        return m.but(blame=m.blame + (Path(rel).name,))
    if part == "files":
        how = draw(st.sampled_from(["extra", "no-json", "no-feats", "faiss", "relative", "newline"]))
        if how == "relative":  # an index of an earlier vireid: its checkpoint relative to the folder
            doc = json.loads((folder / "index.json").read_text())
            doc["model"]["checkpoint"] = "../" + Path(doc["model"]["checkpoint"]).name
            return Mutation(
                (("write", f"{rel}/index.json", json.dumps(doc).encode()),),
                "the index stores its checkpoint relative",
                ok=True,
            )
        if how == "newline":  # a gallery image whose name would print a fake result row
            doc = json.loads((folder / "index.json").read_text())
            fake = "x.png\n   1   0.9999    666      1  /forged/row.png"
            doc["entries"][0]["path"] = str(Path(doc["entries"][0]["path"]).parent / fake)
            return Mutation(
                (("write", f"{rel}/index.json", json.dumps(doc).encode()),),
                "a gallery path with a newline",
                raw=(fake,),
            )
        if how == "extra":
            return Mutation(
                (("write", f"{rel}/NOTES.txt", b"mine\n"),),
                "the index holds a user's file",
                sentinels=(f"{rel}/NOTES.txt",),
            )
        if how == "faiss":
            junk = draw(st.sampled_from([b"", b"IxF2" + b"\x00" * 10, b"garbage"]))
            return Mutation(
                (("write", f"{rel}/faiss.index", junk),), "a stray faiss.index", blame=(Path(rel).name, "faiss.index")
            )
        target = "index.json" if how == "no-json" else "feats.safetensors"
        return Mutation(
            (("remove", f"{rel}/{target}"),), f"the index lacks {target}", bad=True, blame=(Path(rel).name, target)
        )
    return draw(any_folder(rel, "the index folder"))


@st.composite
def run_folder(draw, rel: str, pristine: Path) -> Mutation:
    """A training run folder: its config, metrics, checkpoints, pointer and lock."""
    part = draw(st.sampled_from(["config", "config", "best", "pointer", "metrics", "files", "folder"]))
    folder = pristine / rel
    if part == "config":
        m = draw(config_file(f"{rel}/config.yaml", pristine))
        return m.but(blame=m.blame + ("config.yaml",))
    if part == "best":
        return draw(checkpoint(f"{rel}/checkpoints/best.safetensors", pristine, "the run's best checkpoint"))
    if part == "pointer":  # read only to find the last checkpoint: the run's best comes first
        m = draw(
            json_file(
                f"{rel}/checkpoints/last.json", (folder / "checkpoints/last.json").read_bytes(), "the run's last.json"
            )
        )
        return m.but(bad=False, ok=False, warn=False)
    if part == "metrics":
        return draw(json_file(f"{rel}/metrics.json", (folder / "metrics.json").read_bytes(), "the run's metrics.json"))
    if part == "files":
        how = draw(st.sampled_from(["no-best", "no-checkpoints", "no-config", "lock", "user-file", "relative-root"]))
        if how == "relative-root":  # a run of an earlier vireid: its paths relative to the run folder
            text = (folder / "config.yaml").read_text().replace(f"{pristine}/", "../")
            return Mutation(
                (("write", f"{rel}/config.yaml", text.encode()),), "the run's config stores data.root relative", ok=True
            )
        if how == "no-best":
            return Mutation((("remove", f"{rel}/checkpoints/best.safetensors"),), "the run has no best checkpoint")
        if how == "no-checkpoints":
            return Mutation(
                (("remove", f"{rel}/checkpoints"),),
                "the run has no checkpoints",
                bad=True,
                blame=(Path(rel).name, "checkpoint"),
            )
        if how == "no-config":
            return Mutation(
                (("remove", f"{rel}/config.yaml"),), "the run has no config.yaml", blame=(Path(rel).name, "config.yaml")
            )
        if how == "lock":
            pid = draw(st.sampled_from(["1", "999999", "abc", ""]))
            return Mutation((("write", f"{rel}/.lock", pid.encode()),), f"a lock file with {pid!r}")
        return Mutation(
            (("write", f"{rel}/NOTES.txt", b"mine\n"),), "the run holds a user's file", sentinels=(f"{rel}/NOTES.txt",)
        )
    return draw(any_folder(rel, "the run folder"))
