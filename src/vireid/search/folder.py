"""An index folder on disk: written all-or-nothing and never over anything but an earlier index, and
read through one validating function (:func:`load_index_dir`) that every index load goes through.

The folder holds ``index.json`` (format, version, modality, backend, the model's identity and the
entries), ``feats.safetensors`` (the float32 descriptors) and, for faiss backends, ``faiss.index``.
The output policy (:mod:`vireid.utils.outputs`) decides where one is written: ``--out`` may be a
new or empty folder, or an index vireid wrote that holds nothing else; its files
(:data:`INDEX_FILES`) are the only ones removed when it is replaced.  Paths in it are absolute; a
relative checkpoint path (indexes written before that) is looked up next to the index first, then
in the current folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vireid.errors import VireidError
from vireid.utils.jsonio import json_loads

INDEX_FILES = ("index.json", "feats.safetensors", "faiss.index")
FORMAT = "vireid-index"
KNOWN_VERSIONS = (1,)
BACKENDS = ("exact", "faiss-flat", "faiss-ivf")
MODALITIES = ("visible", "infrared")


def is_index_dir(path: str | Path) -> bool:
    """True if ``path`` holds a vireid index (its ``index.json`` says so)."""
    try:
        meta = json_loads((Path(path) / "index.json").read_bytes(), str(Path(path) / "index.json"))
    except (OSError, ValueError):  # JSONError is a ValueError: not an index
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def index_files(folder: Path) -> set[str] | None:
    """The files vireid wrote in the index folder ``folder`` (None when it is not an index)."""
    from vireid.utils.outputs import is_temporary

    if not is_index_dir(folder):
        return None
    temporary = {p.name for p in folder.iterdir() if is_temporary(p.name)}
    return {n for n in INDEX_FILES if (folder / n).is_file()} | temporary


def check_index_out(out: str | Path, inputs: dict[str, Any] | None = None) -> Path:
    """Refuse an index folder path the output policy forbids: a file, a non-empty folder other
    than a vireid index holding its files alone, a folder in a dataset, or one holding (or being)
    one of ``inputs`` (it is replaced as a whole)."""
    from vireid.utils.outputs import INDEX, check_folder

    check_folder(out, INDEX, inputs=inputs, owned=index_files)
    return Path(out)


def save_index_dir(index: Any, out: str | Path, inputs: dict[str, Any] | None = None) -> Path:
    """Save ``index`` (its ``_write_files(folder)``) into the folder ``out`` all-or-nothing: a
    temporary sibling folder, renamed into place when complete; an earlier index at ``out`` is
    replaced (its files removed, nothing else), anything else refused (:func:`check_index_out`).
    ``GalleryIndex.save`` calls this."""
    import os
    import shutil

    from vireid.utils.outputs import INDEX, check_folder, remove_owned, staging_dir, write_failed

    out = Path(out)
    owned = check_folder(out, INDEX, inputs=inputs, owned=index_files)
    old = tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = staging_dir(f".{out.name}.", out.parent, suffix=".tmp")  # ordinary permissions once renamed
        index._write_files(tmp)
        if out.exists():
            old = staging_dir(f".{out.name}.", out.parent, suffix=".old")  # replaced by the rename below
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)  # the staging folder: all vireid's
        if old is not None:
            if not out.exists():
                os.replace(old, out)
            else:
                shutil.rmtree(old, ignore_errors=True)
        if isinstance(exc, OSError):
            raise write_failed(out, exc, what="a gallery index", intact=bool(owned)) from None
        raise
    if old is not None:
        remove_owned(old, owned)  # what the earlier index held, nothing else
    return out


def absolute_model_id(model_id: dict[str, Any]) -> dict[str, Any]:
    """``model_id`` with its checkpoint path made absolute (resolved against the current folder)."""
    ckpt = model_id.get("checkpoint")
    return {**model_id, "checkpoint": str(Path(ckpt).resolve())} if isinstance(ckpt, str) and ckpt else model_id


def read_index_json(directory: Path) -> dict[str, Any]:
    """``index.json`` of the index folder ``directory``, checked key by key: a JSON object of the
    vireid index format and a version this vireid reads, a known modality and backend, ``nlist`` a
    non-negative integer, ``model`` an object, and ``entries`` a list of objects with a string
    ``path`` and integer ``pid`` and ``camid``.  Each problem is one :class:`VireidError` line
    naming the file and the key."""
    from vireid.utils.paths import file_problem

    if not directory.is_dir():  # not found, a file, a link to nothing, a pipe or a device
        what = "a vireid index folder (made by `vireid index build`)"
        problem = file_problem(directory, "vireid index folder")
        if problem is None:
            problem = f"is a file, not {what}"
        elif problem.endswith("not found"):
            problem = f"not found; expected {what}"
        elif problem.endswith(", not a vireid index folder"):
            problem = problem.removesuffix("a vireid index folder") + what
        else:
            problem = f"{problem}; expected {what}"
        raise VireidError(f"{directory}: {problem}")
    path = directory / "index.json"
    if not path.is_file():
        raise VireidError(f"{directory}: not a vireid index (missing index.json)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise VireidError(f"{path}: cannot read ({exc.strerror or exc})") from None
    meta = json_loads(raw, str(path), expected="the index.json vireid index build writes")

    def bad(key: str, expected: str, got: Any = None) -> VireidError:
        shown = json.dumps(got)[:60] if got is not None else "nothing"
        return VireidError(f"{path}: '{key}' must be {expected}, got {shown}")

    if not isinstance(meta, dict):
        raise VireidError(f"{path}: not a vireid index file (expected a JSON object, got {type(meta).__name__})")
    if meta.get("format") != FORMAT:
        raise VireidError(f"{path}: not a vireid index file ('format' is {json.dumps(meta.get('format'))[:60]})")
    version = meta.get("version")
    if type(version) is not int:
        raise bad("version", "an integer", version)
    if version not in KNOWN_VERSIONS:
        raise VireidError(
            f"{path}: index format version {version} is not one this vireid reads "
            f"({', '.join(map(str, KNOWN_VERSIONS))}); rebuild the index or update vireid"
        )
    if meta.get("modality") not in MODALITIES:
        raise bad("modality", " or ".join(map(repr, MODALITIES)), meta.get("modality"))
    if meta.get("backend") not in BACKENDS:
        raise bad("backend", "one of " + ", ".join(BACKENDS), meta.get("backend"))
    nlist = meta.setdefault("nlist", 0)
    if type(nlist) is not int or nlist < 0:
        raise bad("nlist", "a non-negative integer", nlist)
    model = meta.setdefault("model", {})
    if not isinstance(model, dict):
        raise bad("model", "an object", model)
    for key in ("checkpoint", "weights_sha256", "checkpoint_sha256", "config_sha256", "architecture"):
        if model.get(key) is not None and not isinstance(model[key], str):
            raise bad(f"model.{key}", "a string", model[key])
    if model.get("descriptor") is not None and (type(model["descriptor"]) is not int or model["descriptor"] < 1):
        raise bad("model.descriptor", "a positive integer", model["descriptor"])
    entries = meta.get("entries")
    if not isinstance(entries, list):
        raise bad("entries", "a list", entries)
    for i, e in enumerate(entries):
        if not (
            isinstance(e, dict)
            and isinstance(e.get("path"), str)
            and type(e.get("pid")) is int
            and type(e.get("camid")) is int
        ):
            raise bad(f"entries[{i}]", "an object with a string 'path' and integer 'pid' and 'camid'", e)
    return meta


def resolve_checkpoint(model_id: dict[str, Any], directory: Path) -> dict[str, Any]:
    """``model_id`` with a relative checkpoint path resolved: next to the index folder if it is
    there, else in the current folder if it is there (indexes written before paths were stored
    absolute), else next to the index."""
    ckpt = model_id.get("checkpoint")
    if not ckpt or Path(ckpt).is_absolute():
        return model_id
    for base in (directory, Path.cwd()):
        if (base / ckpt).exists():
            return {**model_id, "checkpoint": str((base / ckpt).resolve())}
    return {**model_id, "checkpoint": str((directory / ckpt).resolve())}


def read_faiss(path: Path, backend: str, n: int, d: int, nlist: int):
    """The faiss index in ``path``, deserialised with every vector it declares bounded by the file's
    size (a corrupt length cannot make faiss allocate more), and checked against the index: the
    backend's type, inner-product metric, ``d`` dimensions, ``n`` vectors (and ``nlist`` lists)."""
    try:
        import faiss
    except ImportError:
        raise VireidError(f"{path.parent}: index uses {backend}; pip install 'vireid[search]'") from None
    import numpy as np

    try:
        raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except OSError as exc:
        raise VireidError(f"{path}: cannot read ({exc.strerror or exc})") from None
    limit = getattr(faiss, "set_deserialization_vector_byte_limit", None)
    before = faiss.get_deserialization_vector_byte_limit() if limit else None
    try:
        if limit:
            limit(len(raw) + 1)
        index = faiss.deserialize_index(raw)
    except Exception as exc:  # faiss raises RuntimeError with C++ context; keep the failed check
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise VireidError(f"{path}: not a readable faiss index ({text.rsplit('Error: ', 1)[-1][:200]})") from None
    finally:
        if limit:
            limit(before)
    kind = faiss.IndexFlat if backend == "faiss-flat" else faiss.IndexIVFFlat
    if not isinstance(index, kind) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise VireidError(f"{path}: expected an inner-product {kind.__name__} for backend {backend}")
    if index.d != d or index.ntotal != n:
        raise VireidError(
            f"{path}: holds {index.ntotal} vectors of {index.d} dimensions; feats.safetensors has {n} x {d}"
        )
    if backend == "faiss-ivf" and index.nlist != nlist:
        raise VireidError(f"{path}: has {index.nlist} lists, index.json says nlist {nlist}")
    return index


def load_index_dir(directory: str | Path, *, scan: str = "auto", mmap: bool = False):
    """Read and check an index folder written by ``GalleryIndex.save``: :func:`read_index_json`,
    the ``feats.safetensors`` header against its size (:func:`~vireid.search.feats_file.read_feats_header`),
    the entries against the rows, the descriptor size recorded for the model against the columns,
    ``faiss.index`` (:func:`read_faiss`), and every value finite (in the one pass that builds the
    index).  Each problem is one :class:`VireidError` line naming the file.  ``mmap=True`` leaves
    the float32 descriptors of an exact index on disk (read by position: see
    :mod:`vireid.search.feats_file`).  ``GalleryIndex.load`` calls this."""
    from vireid.search.feats_file import FeatsFile, read_feats_header
    from vireid.search.index import GalleryIndex

    directory = Path(directory)
    meta = read_index_json(directory)
    feats_path = directory / "feats.safetensors"
    if not feats_path.is_file():
        raise VireidError(f"{directory}: not a complete vireid index (missing feats.safetensors)")
    header = read_feats_header(feats_path)
    if header.n != len(meta["entries"]):
        raise VireidError(
            f"{directory / 'index.json'}: {len(meta['entries'])} entries, but {feats_path} holds {header.n} rows"
        )
    descriptor = meta["model"].get("descriptor")
    if descriptor is not None and descriptor != header.d:
        raise VireidError(
            f"{directory / 'index.json'}: model.descriptor is {descriptor}, but {feats_path} holds {header.d} columns"
        )
    backend = meta["backend"]
    faiss_index = None
    if backend != "exact":
        faiss_path = directory / "faiss.index"
        if not faiss_path.is_file():
            raise VireidError(f"{directory}: index uses {backend} but has no faiss.index")
        faiss_index = read_faiss(faiss_path, backend, header.n, header.d, meta["nlist"])
    return GalleryIndex._from_file(
        FeatsFile(header),
        meta["entries"],
        modality=meta["modality"],
        model_id=resolve_checkpoint(meta["model"], directory),
        backend=backend,
        nlist=meta["nlist"],
        faiss_index=faiss_index,
        scan=scan,
        on_disk=mmap and backend == "exact",
    )
