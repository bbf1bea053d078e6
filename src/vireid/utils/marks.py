"""How vireid marks what it writes, and recognises it again from the file itself.

Marks: safetensors metadata (``vireid: KIND``; files of earlier versions by their ``format``), ONNX
``metadata_props`` (``producer: vireid``), picture metadata (PNG ``Software``, PDF/SVG
``Creator``: ``vireid VERSION: KIND``), a ``"vireid": {"kind": ...}`` field in JSON (in the first
record of a JSON-lines log), a first comment line in YAML and Markdown
(``# written by vireid VERSION: KIND``; ``%`` in LaTeX).  :func:`written_kind` reads them -- only headers, or the
top-level fields of an ONNX file -- and recognises files of a vireid without marks by their
structure (:func:`_legacy_json_kind`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vireid.utils.jsonio import json_loads
from vireid.utils.kinds import (
    ABLATION_REPORT,
    ABLATION_RESULTS,
    ABLATION_SUMMARY,
    CHECKPOINT,
    CHECKPOINT_POINTER,
    DEMO_MARKER,
    EVALUATION,
    FEATURES,
    INDEX_META,
    ONNX,
    PICTURE,
    RUN_CHECKPOINT,
    RUN_CONFIG,
    RUN_LOCK,
    RUN_METRICS,
    SYNTH_META,
    TEST_METRICS,
    TRAINING_LOG,
    TRAINING_STATE,
    UNTRAINED_METRICS,
    Kind,
)
from vireid.version import __version__

PathLike = str | os.PathLike


def mark_text(kind: Kind) -> str:
    """``"vireid 0.1.0: features"``: the mark's value (picture metadata, text headers)."""
    return f"vireid {__version__}: {kind.id}"


def safetensors_mark(kind: Kind) -> dict[str, str]:
    """The metadata entry a safetensors file vireid writes carries."""
    return {"vireid": kind.id}


def json_mark(kind: Kind) -> dict:
    """The field a JSON file (or a JSON-lines log's first record) vireid writes carries."""
    return {"vireid": {"kind": kind.id, "version": __version__}}


def text_header(kind: Kind, comment: str = "#") -> str:
    """The first line of a YAML (``#``), LaTeX (``%``) or Markdown (``<!--``) file vireid writes."""
    if comment == "<!--":
        return f"<!-- written by {mark_text(kind)} -->\n"
    return f"{comment} written by {mark_text(kind)}\n"


def picture_metadata(path: PathLike) -> dict[str, str]:
    """matplotlib ``savefig(metadata=...)`` marking a picture at ``path`` (by its suffix)."""
    key = "Software" if Path(path).suffix.lower() == ".png" else "Creator"
    return {key: mark_text(PICTURE)}


_MARK = re.compile(r"^vireid [^:\s]*: ([a-z][\w-]*)$")
_HEADER = re.compile(r"^(?:#|%|<!--) written by vireid [^:\s]*: ([a-z][\w-]*)(?: -->)?\s*$")
_MAX_JSON = 64 << 20  # a JSON file vireid writes is far smaller; a larger one is not parsed
_MAX_HEADER = 100 << 20


def _kind_from_mark(text: object) -> str | None:
    m = _MARK.match(text) if isinstance(text, str) else None
    return m.group(1) if m else None


def _safetensors_kind(fh, size: int) -> str | None:
    fh.seek(0)
    n = int.from_bytes(fh.read(8), "little")
    if not 2 <= n <= min(_MAX_HEADER, size - 8):
        return None
    try:
        meta = json_loads(fh.read(n), "safetensors header").get("__metadata__") or {}
    except (ValueError, AttributeError):  # JSONError is a ValueError: not a safetensors file vireid wrote
        return None
    if not isinstance(meta, dict):
        return None
    if isinstance(meta.get("vireid"), str):
        return meta["vireid"]
    fmt = meta.get("format")  # files of a vireid before marks
    if fmt == "vireid-model":
        return RUN_CHECKPOINT.id if "config" in meta else CHECKPOINT.id  # the engine's carry the run config
    if isinstance(fmt, str) and fmt.startswith("vireid.features/"):
        return FEATURES.id
    return None


def _varint(fh) -> int | None:
    shift = value = 0
    for _ in range(10):
        b = fh.read(1)
        if not b:
            return None
        value |= (b[0] & 0x7F) << shift
        if b[0] < 0x80:
            return value
        shift += 7
    return None


def _onnx_kind(fh, size: int) -> str | None:
    """``onnx`` when the ModelProto's ``metadata_props`` (field 14) says ``producer: vireid``;
    reads the top-level fields only, seeking over the graph."""
    fh.seek(0)
    for _ in range(100_000):
        if fh.tell() >= size:
            return None
        tag = _varint(fh)
        if tag is None or tag == 0:
            return None
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            if _varint(fh) is None:
                return None
        elif wire == 1:
            fh.seek(8, os.SEEK_CUR)
        elif wire == 5:
            fh.seek(4, os.SEEK_CUR)
        elif wire == 2:
            length = _varint(fh)
            if length is None or fh.tell() + length > size:
                return None
            if number == 14 and length < 1 << 20:
                entry = _entry(fh.read(length))
                if entry == ("producer", "vireid"):
                    return ONNX.id
            else:
                fh.seek(length, os.SEEK_CUR)
        else:
            return None
    return None


def _entry(blob: bytes) -> tuple[str, str] | None:
    """``(key, value)`` of a StringStringEntryProto."""
    import io

    fh, out = io.BytesIO(blob), {}
    while fh.tell() < len(blob):
        tag = _varint(fh)
        if tag is None or tag & 7 != 2:
            return None
        length = _varint(fh)
        if length is None:
            return None
        try:
            out[tag >> 3] = fh.read(length).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return out.get(1, ""), out.get(2, "")


def _png_kind(fh, size: int) -> str | None:
    fh.seek(8)
    while fh.tell() + 12 <= size:
        length = int.from_bytes(fh.read(4), "big")
        ctype = fh.read(4)
        if ctype in (b"tEXt", b"iTXt") and length < 1 << 16:
            data = fh.read(length)
            key, _, value = data.partition(b"\0")
            if key == b"Software":
                if ctype == b"iTXt":  # compression flag, method, language\0, translated key\0
                    value = value[2:].split(b"\0", 2)[-1]
                return _kind_from_mark(value.decode("latin-1"))
            fh.seek(4, os.SEEK_CUR)
        elif ctype == b"IEND":
            return None
        else:
            fh.seek(length + 4, os.SEEK_CUR)
    return None


def _tail_kind(fh, size: int, pattern: bytes) -> str | None:
    fh.seek(max(0, size - (64 << 10)))
    m = re.search(pattern, fh.read())
    return _kind_from_mark(m.group(1).decode("latin-1")) if m else None


def _legacy_json_kind(doc: object) -> str | None:
    """The kind of a JSON file written by a vireid without marks, from its structure."""
    if isinstance(doc, list):
        rows = [r for r in doc if isinstance(r, dict)]
        if rows and len(rows) == len(doc) and all({"combo", "seed", "metrics"} <= set(r) for r in rows):
            return ABLATION_RESULTS.id
        return None
    if not isinstance(doc, dict):
        return None
    if doc.get("generator") == "vireid.data.synth":
        return SYNTH_META.id
    if doc.get("format") == "vireid-index":
        return INDEX_META.id
    if doc.get("made_by") == "vireid demo":
        return DEMO_MARKER.id
    if doc.get("format") == "vireid ablation summary":  # vireid.engine.ablation.summary.FORMAT
        return ABLATION_SUMMARY.id
    if set(doc) == {"dir", "step"} and str(doc.get("dir", "")).startswith("step-"):
        return CHECKPOINT_POINTER.id
    if {"pid", "host", "since"} <= set(doc):
        return RUN_LOCK.id
    mean = doc.get("mean")
    if isinstance(mean, dict) and "rank1" in mean and "std" in doc:
        if "train_seconds" in doc:
            return RUN_METRICS.id
        if "checkpoint" in doc and "rerank" in doc:
            return TEST_METRICS.id
        if "checkpoint" not in doc:
            return UNTRAINED_METRICS.id
    if {"rank1", "trials", "protocol", "query"} <= set(doc):
        return EVALUATION.id
    return None


def _json_kind(doc: object) -> str | None:
    if isinstance(doc, dict) and isinstance(doc.get("vireid"), dict):
        kind = doc["vireid"].get("kind")
        if kind == "staged":  # an index's or dataset's JSON of a vireid that marked them so
            return _legacy_json_kind(doc) or kind
        return kind if isinstance(kind, str) else None
    return _legacy_json_kind(doc)


def _text_kind(fh, size: int, head: bytes) -> str | None:
    try:
        text = head.decode("utf-8-sig") if len(head) == size else head.decode("utf-8-sig", "ignore")
    except UnicodeDecodeError:
        return None
    first = text.split("\n", 1)[0]
    m = _HEADER.match(first)
    if m:
        return m.group(1)
    if first.startswith("| ") and "| Rank-1 (%) | mAP (%) | mINP (%) |" in first and first.endswith("| seeds |"):
        return ABLATION_REPORT.id  # the report of a vireid before marks
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")) or size > _MAX_JSON:
        return _legacy_yaml_kind(fh, size, text)
    fh.seek(0)
    try:
        whole = fh.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    try:
        return _json_kind(json_loads(whole, "JSON file"))
    except ValueError:  # JSONError is a ValueError: perhaps JSON lines
        pass
    lines = [ln for ln in whole.splitlines() if ln.strip()][:5]  # JSON lines
    try:
        records = [json_loads(ln, "JSON line") for ln in lines]
    except ValueError:
        return None
    if records and isinstance(records[0], dict) and isinstance(records[0].get("vireid"), dict):
        return _json_kind(records[0])
    if records and all(isinstance(r, dict) and "step" in r for r in records):
        return TRAINING_LOG.id  # a log of a vireid before marks
    return None


def _legacy_yaml_kind(fh, size: int, head: str) -> str | None:
    """A run's ``config.yaml`` of a vireid before marks: a mapping with vireid's sections."""
    if size > 1 << 20 or not re.match(r"^data:\s*$", head.split("\n", 1)[0]):
        return None
    import yaml

    fh.seek(0)
    try:
        doc = yaml.safe_load(fh.read().decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(doc, dict) and {"data", "model", "train", "optim", "eval"} <= set(doc):
        return RUN_CONFIG.id
    return None


#: pictures a vireid before marks drew, by name, and the marked file beside them that says so
_LEGACY_PICTURES = {
    "ranks.png": ("metrics.json", TEST_METRICS.id),
    "tsne.png": ("metrics.json", TEST_METRICS.id),
    "distances.png": ("metrics.json", TEST_METRICS.id),
    "ranking.png": ("demo.json", DEMO_MARKER.id),
    "ablation.png": ("results.json", ABLATION_RESULTS.id),
}


def _legacy_picture(p: Path) -> str | None:
    """``picture`` for an unmarked PNG that ``vireid test --viz``, the demo or an ablation of an
    earlier vireid drew: its name, beside the file of the same run that vireid wrote."""
    beside = _LEGACY_PICTURES.get(p.name)
    return PICTURE.id if beside is not None and written_kind(p.parent / beside[0]) == beside[1] else None


def written_kind(path: PathLike) -> str | None:
    """The kind id of the vireid file at ``path`` (read from its mark), or None when it is not a
    file vireid wrote (or not a file at all)."""
    p = Path(path)
    try:
        if not p.is_file():
            return None
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(64 << 10)
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                return _png_kind(fh, size) or _legacy_picture(p)
            if head.startswith(b"%PDF"):
                return _tail_kind(fh, size, rb"/Creator \((vireid [^)]{1,80})\)")
            if head.lstrip().startswith((b"<?xml", b"<svg")):
                m = re.search(rb"<dc:creator>\s*<cc:Agent>\s*<dc:title>(vireid [^<]{1,80})</dc:title>", head)
                return _kind_from_mark(m.group(1).decode("latin-1")) if m else None
            if size >= 10 and head[8:9] == b"{":
                found = _safetensors_kind(fh, size)
                if found is not None:
                    return found
            if p.suffix.lower() == ".onnx" or head[:1] == b"\x08":  # an ONNX model starts with ir_version
                found = _onnx_kind(fh, size)
                if found is not None:
                    return found
            if p.name == "state.pt" and head.startswith(b"PK\x03\x04"):
                return TRAINING_STATE.id if written_kind(p.parent / "model.safetensors") == RUN_CHECKPOINT.id else None
            return _text_kind(fh, size, head)
    except OSError:
        return None
