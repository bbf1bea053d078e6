"""Readers and writers of the file formats the fuzzer mutates, at the byte level.

The mutations must reach places a library would never write (a header claiming a billion rows,
a dtype the reader does not expect, duplicate JSON keys), so the formats are handled here
directly: safetensors (8-byte header length, JSON header, raw data), YAML written from a tree
whose leaves are raw YAML text, JSON with control over key order and duplicates.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


# --------------------------------------------------------------------------- safetensors
@dataclass
class Safetensors:
    """A safetensors file: ``meta`` (the ``__metadata__`` strings), ``tensors`` name -> array
    (raw entries whose dtype numpy lacks are kept as ``(dtype, shape, bytes)``)."""

    meta: dict
    tensors: dict

    @classmethod
    def parse(cls, data: bytes) -> Safetensors:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        meta = header.pop("__metadata__", {}) or {}
        body = data[8 + n :]
        tensors = {}
        for name, info in header.items():
            a, b = info["data_offsets"]
            raw = body[a:b]
            dt = DTYPES.get(info["dtype"])
            if dt is None:
                tensors[name] = (info["dtype"], info["shape"], raw)
            else:
                tensors[name] = np.frombuffer(raw, dtype=dt).reshape(info["shape"]).copy()
        return cls(dict(meta), tensors)

    def dump(self, header_extra: dict | None = None, shapes: dict | None = None) -> bytes:
        """The file's bytes; ``shapes`` overrides the shape a header claims for a tensor (a lie)."""
        header: dict = {}
        if self.meta is not None:
            header["__metadata__"] = self.meta
        chunks, offset = [], 0
        names = {v: k for k, v in DTYPES.items()}
        for name, t in self.tensors.items():
            if isinstance(t, tuple):
                dtype, shape, raw = t
            else:
                t = np.ascontiguousarray(t)
                dtype, shape, raw = names[t.dtype.type], list(t.shape), t.tobytes()
            header[name] = {
                "dtype": dtype,
                "shape": (shapes or {}).get(name, shape),
                "data_offsets": [offset, offset + len(raw)],
            }
            chunks.append(raw)
            offset += len(raw)
        header.update(header_extra or {})
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def raw_safetensors(header: bytes, body: bytes = b"", claimed: int | None = None) -> bytes:
    """A safetensors file with the header bytes as given (and a header length that may lie)."""
    return struct.pack("<Q", len(header) if claimed is None else claimed) + header + body


# --------------------------------------------------------------------------- YAML
class Raw(str):
    """A YAML leaf written as it is (a value grammar's text)."""


def yaml_text(tree: dict, *, duplicate: str | None = None, indent: str = "  ") -> str:
    """Block-style YAML of ``tree`` (sections as blocks, leaves in flow style); ``duplicate``: a
    dotted key written twice (the second time with the same value)."""
    from tests.cli.fuzz.values import flow

    lines: list[str] = []

    def leaf(v: object) -> str:
        return str(v) if isinstance(v, Raw) else flow(v)

    def walk(node: dict, prefix: str, depth: int) -> None:
        for k, v in node.items():
            dotted = f"{prefix}{k}"
            times = 2 if dotted == duplicate else 1
            for _ in range(times):
                if isinstance(v, dict) and v and not isinstance(v, Raw):
                    lines.append(f"{indent * depth}{k}:")
                    walk(v, dotted + ".", depth + 1)
                else:
                    lines.append(f"{indent * depth}{k}: {leaf(v) if not (isinstance(v, dict) and not v) else '{}'}")

    walk(tree, "", 0)
    return "\n".join(lines) + "\n"


def set_dotted(tree: dict, dotted: str, value: object) -> dict:
    """A copy of ``tree`` with ``dotted`` set (sections created as needed)."""
    import copy

    out = copy.deepcopy(tree)
    node = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value
    return out


def del_dotted(tree: dict, dotted: str) -> dict:
    import copy

    out = copy.deepcopy(tree)
    node = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node.get(p)
        if not isinstance(node, dict):
            return out
    node.pop(parts[-1], None)
    return out


def leaves(tree: dict, prefix: str = "") -> dict[str, object]:
    """``{dotted key: value}`` of a nested dict's leaves (empty dicts are leaves)."""
    out: dict[str, object] = {}
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out.update(leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# --------------------------------------------------------------------------- JSON
def json_paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / indices) into a JSON document, the root excluded."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append(prefix + (k,))
            out += json_paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            out.append(prefix + (i,))
            out += json_paths(v, prefix + (i,))
    return out


def json_edit(doc: object, path: tuple, value: object = None, delete: bool = False) -> object:
    """A copy of ``doc`` with the value at ``path`` replaced (or deleted)."""
    import copy

    out = copy.deepcopy(doc)
    node = out
    for p in path[:-1]:
        node = node[p]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def json_with_duplicate(doc: dict, key: str, value: object) -> str:
    """The JSON text of ``doc`` with top-level ``key`` given a second time, as ``value``."""
    text = json.dumps(doc, indent=1)
    return text[: text.rindex("}")].rstrip() + f',\n "{key}": {json.dumps(value)}\n}}\n'
