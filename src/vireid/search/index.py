"""A gallery index of L2-normalised descriptors of one modality, searched by inner product.

* ``backend="exact"`` (default): :func:`vireid.search.exact.exact_topk`, a blocked scan with a
  proven error bound and float64 rescoring, exact and memory-bounded.  Where the CPU has
  native bf16 dot products the index keeps a bf16 copy of the gallery for it
  (``N x (D + 2) x 2`` bytes, half the float32 descriptors); ``scan="fp32"`` keeps one copy only.
* ``backend="faiss-flat"`` / ``"faiss-ivf"``: faiss (``pip install vireid[search]``)
  ``IndexFlatIP`` (exact) or ``IndexIVFFlat`` (approximate; ``nlist``/``nprobe``).

An index remembers the identity of the model that embedded its gallery (a hash of its
tensors, so a re-saved copy of the same weights is the same model, and of its inference
config) and its modality; :meth:`GalleryIndex.search` refuses queries
embedded by another model, and queries of the gallery's own modality unless asked
(VI-ReID search is cross-modal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from vireid.core.device import cpu_has_native_bf16
from vireid.errors import ShapeError, VireidError
from vireid.search.exact import Bf16Gallery, exact_topk, max_norm, prepare_bf16
from vireid.utils.io import atomic_write, atomic_write_json, load_safetensors, save_safetensors

BACKENDS = ("exact", "faiss-flat", "faiss-ivf")
SCANS = ("auto", "bf16", "fp32")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SearchResult:
    """Top-k results: ``scores`` and ``indices`` of shape (num_queries, k), best first."""

    scores: np.ndarray
    indices: np.ndarray
    entries: Sequence[dict]

    def hits(self, q: int) -> list[dict]:
        """Ranked gallery entries (path, pid, camid, score, rank) for query ``q``."""
        out = []
        for rank, (i, s) in enumerate(zip(self.indices[q], self.scores[q], strict=True), start=1):
            if i < 0:  # faiss pads with -1 when fewer than k results
                continue
            out.append({"rank": rank, "score": float(s), "index": int(i), **self.entries[int(i)]})
        return out


@dataclass
class GalleryIndex:
    """Descriptors (N, D) with their entries (``path``, ``pid``, ``camid``) and model identity.

    ``scan`` (exact backend): ``"auto"`` scans a bf16 copy of the gallery where the CPU has
    native bf16 dot products (built at the first search of 64 or more queries; about 2x faster
    than float32 for +50% memory: ``N x (D + 2) x 2`` bytes), ``"fp32"`` scans the float32
    descriptors (one copy), ``"bf16"`` always uses the copy.  Results are exact either way.
    """

    feats: Tensor
    entries: list[dict]
    modality: str
    model_id: dict[str, Any] = field(default_factory=dict)
    backend: str = "exact"
    nlist: int = 0
    _faiss: Any = field(default=None, repr=False)
    scan: str = "auto"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise VireidError(f"unknown search backend {self.backend!r}; expected one of {', '.join(BACKENDS)}")
        if self.scan not in SCANS:
            raise VireidError(f"unknown scan precision {self.scan!r}; expected one of {', '.join(SCANS)}")
        if self.feats.dim() != 2 or self.feats.shape[0] != len(self.entries):
            raise ShapeError(f"gallery features {tuple(self.feats.shape)} do not match {len(self.entries)} entries")
        if self.feats.shape[0] == 0:
            raise VireidError("the gallery is empty: nothing to index")
        if not torch.isfinite(self.feats).all():
            raise ShapeError("gallery features contain NaN or inf")
        self.feats = self.feats.float().contiguous()
        if self.backend != "exact" and self._faiss is None:
            self._faiss = self._build_faiss()

    def _prepared(self, num_queries: int = 1 << 30) -> Bf16Gallery | None:
        """The bf16 copy of the gallery for the scan, or None; ``"auto"`` builds it for a search
        of at least 64 queries (converting the gallery costs about one float32 scan)."""
        if self.scan == "fp32" or (self.scan == "auto" and not cpu_has_native_bf16()):
            return None
        if getattr(self, "_bf16", None) is None:
            if self.scan == "auto" and num_queries < 64:
                return None
            self._bf16 = prepare_bf16(self.feats)
        return self._bf16

    @property
    def nbytes(self) -> int:
        """Bytes held in memory for searching: the float32 descriptors (unless memory-mapped,
        see :meth:`load`), plus the bf16 copy once built."""
        extra = getattr(self, "_bf16", None)
        return (0 if getattr(self, "_mapped", False) else self.feats.numel() * 4) + (
            extra.nbytes if extra is not None else 0
        )

    # -- faiss -------------------------------------------------------------
    def _build_faiss(self):
        try:
            import faiss
        except ImportError:
            raise VireidError(f"backend {self.backend!r} needs faiss: pip install 'vireid[search]'") from None
        x = self.feats.numpy()
        d = x.shape[1]
        if self.backend == "faiss-flat":
            index = faiss.IndexFlatIP(d)
        else:
            nlist = self.nlist or max(1, int(4 * np.sqrt(x.shape[0])))
            nlist = min(nlist, x.shape[0])
            self.nlist = nlist
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(x)
        index.add(x)
        return index

    # -- search ------------------------------------------------------------
    def search(
        self,
        queries: Tensor,
        k: int = 10,
        *,
        query_modality: str | None = None,
        query_model_id: dict[str, Any] | None = None,
        nprobe: int = 16,
        allow_same_modality: bool = False,
    ) -> SearchResult:
        """Top-``k`` gallery entries for each query descriptor (Q, D)."""
        if (
            query_model_id is not None
            and self.model_id
            and (_identity(query_model_id, self.model_id) != _identity(self.model_id, query_model_id))
        ):
            raise VireidError(
                "the query was embedded by another model than the gallery index (index: "
                f"{_identity(self.model_id, query_model_id)}, query: {_identity(query_model_id, self.model_id)}); "
                "rebuild the index or use the index's checkpoint"
            )
        if query_modality is not None and query_modality == self.modality and not allow_same_modality:
            other = "infrared" if self.modality == "visible" else "visible"
            raise VireidError(
                f"this index holds {self.modality} images; cross-modal search needs a "
                f"{other} query (got a {query_modality} query)"
            )
        if queries.dim() == 1:
            queries = queries[None]
        if queries.dim() != 2 or queries.shape[1] != self.feats.shape[1]:
            raise ShapeError(f"query descriptors must be (Q, {self.feats.shape[1]}), got {tuple(queries.shape)}")
        queries = queries.float().contiguous()
        if not bool(torch.isfinite(queries).all()):
            raise ShapeError("query descriptors contain NaN or inf")
        if self.backend == "exact":
            prepared = self._prepared(queries.shape[0])
            if prepared is None and getattr(self, "_norm", None) is None:
                self._norm = max_norm(self.feats)
            s, i = exact_topk(
                queries,
                self.feats,
                k,
                bf16=prepared is not None,
                gallery_bf16=prepared,
                gallery_bounds=(self._norm, 0.0) if prepared is None else None,
            )
            scores, idx = s.numpy(), i.numpy()
        else:
            if self.backend == "faiss-ivf":
                self._faiss.nprobe = min(nprobe, self.nlist)
            scores, idx = self._faiss.search(queries.numpy(), min(k, len(self.entries)))
        return SearchResult(scores=scores, indices=idx, entries=self.entries)

    # -- persistence -------------------------------------------------------
    def save(self, directory: str | Path, inputs: dict[str, Any] | None = None) -> Path:
        """Write the index folder (``feats.safetensors``, ``index.json``, for faiss backends
        ``faiss.index``) all-or-nothing (:func:`vireid.search.folder.save_index_dir`): an existing
        vireid index there is replaced; a file, a non-empty folder that is not a vireid index, or a
        folder holding one of ``inputs`` is refused and left untouched."""
        from vireid.search.folder import save_index_dir

        return save_index_dir(self, directory, inputs)

    def _write_files(self, directory: Path) -> None:
        """The index's files, into a staging folder (:func:`vireid.search.folder.save_index_dir`)."""
        from vireid.utils.outputs import STAGED

        save_safetensors({"feats": self.feats}, directory / "feats.safetensors", kind=STAGED)
        if self._faiss is not None:
            import faiss

            blob = faiss.serialize_index(self._faiss)
            with atomic_write(directory / "faiss.index", "wb", kind=STAGED) as fh:
                fh.write(blob.tobytes())
        atomic_write_json(
            directory / "index.json",
            {
                "format": "vireid-index",
                "version": FORMAT_VERSION,
                "modality": self.modality,
                "backend": self.backend,
                "nlist": self.nlist,
                "model": self.model_id,
                "entries": self.entries,
            },
            kind=STAGED,
        )

    @classmethod
    def load(cls, directory: str | Path, *, scan: str = "auto", mmap: bool = False) -> "GalleryIndex":
        """Read an index folder written by :meth:`save` (``scan``: see the class).  ``mmap``
        maps the float32 descriptors from disk instead of reading them into memory: with the
        bf16 scan only the bf16 copy stays resident (the exact rescoring reads a few rows)."""
        directory = Path(directory)
        meta_path = directory / "index.json"
        if not meta_path.is_file():
            raise VireidError(f"{directory}: not a vireid index (missing index.json)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise VireidError(f"{meta_path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        except (OSError, UnicodeDecodeError, RecursionError) as exc:
            raise VireidError(
                f"{meta_path}: cannot be read as JSON ({getattr(exc, 'strerror', None) or exc})"
            ) from None
        _check_meta(meta, meta_path)
        if mmap and meta["backend"] == "exact":
            tensors = {"feats": _mmap_feats(directory / "feats.safetensors")}
        else:
            tensors, _ = load_safetensors(directory / "feats.safetensors")
        feats = tensors.get("feats")
        if feats is None or feats.dim() != 2 or not feats.is_floating_point() or len(feats) != len(meta["entries"]):
            got = "no 'feats'" if feats is None else f"'feats' of {feats.dtype} {tuple(feats.shape)}"
            raise VireidError(
                f"{directory / 'feats.safetensors'}: holds {got}; expected float descriptors (N, D) with one row "
                f"per entry of index.json ({len(meta['entries'])})"
            )
        if not (mmap and meta["backend"] == "exact") and not bool(torch.isfinite(feats).all()):
            raise VireidError(f"{directory / 'feats.safetensors'}: holds NaN or inf descriptors; rebuild the index")
        faiss_index = None
        if meta["backend"] != "exact":
            try:
                import faiss
            except ImportError:
                raise VireidError(f"{directory}: index uses {meta['backend']}; pip install 'vireid[search]'") from None
            try:
                raw = np.frombuffer((directory / "faiss.index").read_bytes(), dtype=np.uint8)
                faiss_index = faiss.deserialize_index(raw)
            except (OSError, RuntimeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[-1][:200]
                raise VireidError(f"{directory / 'faiss.index'}: not a readable faiss index ({reason})") from None
            if faiss_index.ntotal != len(feats) or faiss_index.d != feats.shape[1]:
                raise VireidError(
                    f"{directory / 'faiss.index'}: holds {faiss_index.ntotal} vectors of size {faiss_index.d}, "
                    f"but feats.safetensors {tuple(feats.shape)}"
                )
        index = cls(
            feats=feats,
            entries=meta["entries"],
            modality=meta["modality"],
            model_id=meta.get("model", {}),
            backend=meta["backend"],
            nlist=meta.get("nlist", 0),
            _faiss=faiss_index,
            scan=scan,
        )
        index._mapped = mmap and meta["backend"] == "exact"
        return index


def _check_meta(meta: Any, path: Path) -> None:
    """``index.json``'s structure, key by key (one line naming the file and the key)."""
    if not isinstance(meta, dict) or meta.get("format") != "vireid-index":
        raise VireidError(f"{path}: not a vireid index file")
    if meta.get("version") != FORMAT_VERSION:
        raise VireidError(
            f"{path}: index format version {json.dumps(meta.get('version'))[:40]}; this vireid reads version "
            f"{FORMAT_VERSION} (rebuild the index with `vireid index build`)"
        )
    checks = {
        "modality": (lambda v: v in ("visible", "infrared"), "visible or infrared"),
        "backend": (lambda v: v in BACKENDS, " or ".join(BACKENDS)),
        "nlist": (lambda v: type(v) is int and v >= 0, "a non-negative integer"),
        "model": (lambda v: isinstance(v, dict), "an object"),
        "entries": (
            lambda v: (
                isinstance(v, list)
                and all(
                    isinstance(e, dict)
                    and isinstance(e.get("path"), str)
                    and type(e.get("pid")) is int
                    and type(e.get("camid")) is int
                    for e in v
                )
            ),
            "a list of {path, pid, camid} objects",
        ),
    }
    for key, (ok, expected) in checks.items():
        if key == "nlist" and key not in meta:
            continue
        if key not in meta or not ok(meta[key]):
            got = json.dumps(meta[key])[:60] if key in meta else "nothing"
            raise VireidError(f"{path}: '{key}' must be {expected}, got {got}")


def _mmap_feats(path: Path) -> Tensor:
    """The (N, D) float32 ``feats`` of a safetensors file, memory-mapped copy-on-write."""
    try:
        with open(path, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            info = json.loads(fh.read(size))["feats"]
        begin, end = info["data_offsets"]
        n, d = info["shape"]
        if info["dtype"] != "F32" or end - begin != n * d * 4 or path.stat().st_size < 8 + size + end:
            raise ValueError(info)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VireidError(f"{path}: not a float32 (N, D) 'feats' safetensors file ({exc})") from None
    return torch.from_numpy(np.memmap(path, dtype="<f4", mode="c", offset=8 + size + begin, shape=(n, d)))


def _identity(model_id: dict[str, Any], other: dict[str, Any] | None = None) -> tuple:
    """What must agree between the index's model and the query's: the tensors' hash (the checkpoint
    file's hash for indexes written before vireid hashed tensors), the inference config, the size."""
    key = (
        "weights_sha256"
        if "weights_sha256" in model_id and (other is None or "weights_sha256" in other)
        else "checkpoint_sha256"
    )
    return (model_id.get(key), model_id.get("config_sha256"), model_id.get("descriptor"))
