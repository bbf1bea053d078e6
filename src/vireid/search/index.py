"""A gallery index of L2-normalised descriptors of one modality, searched by inner product.

* ``backend="exact"`` (default): :func:`vireid.search.exact.exact_topk`, a blocked scan with a
  proven error bound and float64 rescoring, exact and memory-bounded.  Where the CPU has
  native bf16 dot products the index keeps a bf16 copy of the gallery for it
  (``N x (D + 2) x 2`` bytes, half the float32 descriptors); ``scan="fp32"`` keeps one copy only.
* ``backend="faiss-flat"`` / ``"faiss-ivf"``: faiss (``pip install vireid[search]``)
  ``IndexFlatIP`` (exact) or ``IndexIVFFlat`` (approximate; ``nlist``/``nprobe``).

Building an index is one pass over the descriptors (:func:`vireid.search.bounds.scan_gallery`):
every value checked finite, the bf16 copy and its error bounds computed chunk by chunk, nothing
else of the gallery's size allocated.  Memory while searching: the float32 descriptors (none
with ``load(..., mmap=True)``), the bf16 copy, and one tile of at most 16M scores (64 MiB; plus
64 MiB of rows read from disk by a float32 scan, or by the rescoring, of an index left on disk).

An index remembers the identity of the model that embedded its gallery (a hash of its
tensors, so a re-saved copy of the same weights is the same model, and of its inference
config) and its modality; :meth:`GalleryIndex.search` refuses queries
embedded by another model, and queries of the gallery's own modality unless asked
(VI-ReID search is cross-modal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from vireid.core.device import cpu_has_native_bf16
from vireid.errors import ShapeError, VireidError
from vireid.search.bounds import scan_gallery
from vireid.search.exact import exact_topk
from vireid.search.feats_file import FeatsFile
from vireid.search.folder import BACKENDS, absolute_model_id
from vireid.utils.io import atomic_write, atomic_write_json, save_safetensors

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


def check_nlist(backend: str, nlist: int, n: int | None = None, option: str = "nlist") -> None:
    """IVF lists (``nlist``; 0 = 4 sqrt(N)) belong to the ``faiss-ivf`` backend, and k-means needs
    at least one of the ``n`` gallery vectors per list (``n`` None: not known yet)."""
    if nlist and backend != "faiss-ivf":
        raise VireidError(f"{option} {nlist}: only the faiss-ivf backend has lists; this is backend {backend!r}")
    if n is not None and nlist > n:
        raise VireidError(f"{option} {nlist}: more lists than the gallery's {n} images; give at most {n}")


def check_nprobe(backend: str, nlist: int, nprobe: int, option: str = "nprobe") -> str | None:
    """What a given ``nprobe`` does not do on this index, as a warning's text (None: it applies):
    exact indexes visit everything, and an IVF index visits at most its ``nlist`` lists."""
    if backend != "faiss-ivf":
        return f"{option} {nprobe} is ignored: this index (backend {backend}) is searched exhaustively"
    if nprobe > nlist:
        return f"{option} {nprobe} is more than the index's {nlist} lists; all {nlist} are visited"
    return None


@dataclass
class GalleryIndex:
    """Descriptors (N, D) with their entries (``path``, ``pid``, ``camid``) and model identity.

    ``scan`` (exact backend): ``"auto"`` scans a bf16 copy of the gallery where the CPU has
    native bf16 dot products (built with the index, in the pass that validates it; about 2x
    faster than float32 for any number of queries, for +50% memory: ``N x (D + 2) x 2`` bytes),
    ``"fp32"`` scans the float32 descriptors (one copy), ``"bf16"`` always uses the copy.  Results
    are exact either way.  ``feats`` is a float32 tensor, or a
    :class:`~vireid.search.feats_file.FeatsFile` for an index loaded with ``mmap=True``.
    """

    feats: Tensor | FeatsFile
    entries: list[dict]
    modality: str
    model_id: dict[str, Any] = field(default_factory=dict)
    backend: str = "exact"
    nlist: int = 0
    _faiss: Any = field(default=None, repr=False)
    scan: str = "auto"
    _source: FeatsFile | None = field(default=None, repr=False)  # read into ``feats`` in the pass (load)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise VireidError(f"unknown search backend {self.backend!r}; expected one of {', '.join(BACKENDS)}")
        if self.scan not in SCANS:
            raise VireidError(f"unknown scan precision {self.scan!r}; expected one of {', '.join(SCANS)}")
        on_disk = isinstance(self.feats, FeatsFile)
        if not on_disk and self._source is None:  # built here, not read from a folder (checked there)
            check_nlist(self.backend, self.nlist, len(self.entries))
        if not on_disk and not isinstance(self.feats, Tensor):
            raise ShapeError(f"gallery features must be a tensor, got {type(self.feats).__name__}")
        if len(self.feats.shape) != 2 or self.feats.shape[0] != len(self.entries):
            raise ShapeError(f"gallery features {tuple(self.feats.shape)} do not match {len(self.entries)} entries")
        if self.feats.shape[0] == 0:
            raise VireidError("the gallery is empty: nothing to index")
        if not on_disk and (
            self.feats.dtype != torch.float32 or not self.feats.is_contiguous() or self.feats.device.type != "cpu"
        ):
            self.feats = self.feats.detach().float().cpu().contiguous()
        n, d = self.feats.shape
        source, feats = (self.feats if on_disk else self._source), self.feats
        if source is None:
            rows, where = feats, "gallery features"
        else:
            where = str(source.path)
            rows = source.rows if on_disk else (lambda a, b: source.rows(a, b, out=feats[a:b]))
        self._bf16, self._norm = scan_gallery(rows, n, d, bf16=self._wants_bf16(), where=where)
        self._source = None
        if self.backend != "exact" and self._faiss is None:
            self._faiss = self._build_faiss()

    def _wants_bf16(self) -> bool:
        return self.backend == "exact" and (self.scan == "bf16" or (self.scan == "auto" and cpu_has_native_bf16()))

    @classmethod
    def _from_file(cls, source: FeatsFile, entries: list[dict], *, on_disk: bool, faiss_index=None, **kw):
        """An index over the rows of ``source``: left on disk, or read into memory in the pass."""
        if on_disk:
            return cls(feats=source, entries=entries, _faiss=faiss_index, **kw)
        try:
            return cls(
                feats=torch.empty(tuple(source.shape)), entries=entries, _faiss=faiss_index, _source=source, **kw
            )
        finally:
            source.close()

    @property
    def dim(self) -> int:
        """Descriptor size D."""
        return self.feats.shape[1]

    def _prepared(self, num_queries: int = 1):
        """The bf16 copy of the gallery the scan uses (built with the index), or None."""
        return self._bf16

    @property
    def nbytes(self) -> int:
        """Bytes held in memory for searching: the float32 descriptors (unless left on disk, see
        :meth:`load`), plus the bf16 copy."""
        own = 0 if isinstance(self.feats, FeatsFile) else self.feats.numel() * 4
        return own + (self._bf16.nbytes if self._bf16 is not None else 0)

    # -- faiss -------------------------------------------------------------
    def _build_faiss(self):
        try:
            import faiss
        except ImportError:
            raise VireidError(f"backend {self.backend!r} needs faiss: pip install 'vireid[search]'") from None
        x = self.feats.numpy() if isinstance(self.feats, Tensor) else self.feats.read().numpy()
        d = x.shape[1]
        if self.backend == "faiss-flat":
            index = faiss.IndexFlatIP(d)
        else:
            nlist = self.nlist or min(x.shape[0], max(1, int(4 * np.sqrt(x.shape[0]))))
            self.nlist = nlist
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.min_points_per_centroid = 1  # faiss prints a raw "WARNING clustering" line below 39 per list
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
        if queries.dim() != 2 or queries.shape[1] != self.dim:
            raise ShapeError(f"query descriptors must be (Q, {self.dim}), got {tuple(queries.shape)}")
        queries = queries.float().contiguous()
        if not bool(torch.isfinite(queries).all()):
            raise ShapeError("query descriptors contain NaN or inf")
        if self.backend == "exact":
            s, i = exact_topk(
                queries,
                self.feats,
                k,
                bf16=self._bf16 is not None,
                gallery_bf16=self._bf16,
                gallery_bounds=(self._norm, 0.0),
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
        folder holding one of ``inputs`` is refused and left untouched.  The checkpoint path is
        stored absolute."""
        from vireid.search.folder import save_index_dir

        return save_index_dir(self, directory, inputs)

    def _write_files(self, directory: Path) -> None:
        """The index's files, into a staging folder (:func:`vireid.search.folder.save_index_dir`)."""
        from vireid.utils.outputs import INDEX_FEATS, INDEX_META, STAGED

        feats = self.feats if isinstance(self.feats, Tensor) else self.feats.read()
        save_safetensors({"feats": feats}, directory / "feats.safetensors", kind=INDEX_FEATS)
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
                "model": absolute_model_id(self.model_id),
                "entries": self.entries,
            },
            kind=INDEX_META,
        )

    @classmethod
    def load(cls, directory: str | Path, *, scan: str = "auto", mmap: bool = False) -> "GalleryIndex":
        """Read an index folder written by :meth:`save`, every file checked
        (:func:`vireid.search.folder.load_index_dir`; ``scan``: see the class, the bf16 copy is
        built while reading, so a loaded index serves its first query at full speed).  ``mmap``
        leaves the float32 descriptors on disk: with the bf16 scan only the bf16 copy stays in
        memory, and the exact rescoring reads the few candidate rows from the file."""
        from vireid.search.folder import load_index_dir

        return load_index_dir(directory, scan=scan, mmap=mmap)


def _identity(model_id: dict[str, Any], other: dict[str, Any] | None = None) -> tuple:
    """What must agree between the index's model and the query's: the tensors' hash (the checkpoint
    file's hash for indexes written before vireid hashed tensors), the inference config, the size."""
    key = (
        "weights_sha256"
        if "weights_sha256" in model_id and (other is None or "weights_sha256" in other)
        else "checkpoint_sha256"
    )
    return (model_id.get(key), model_id.get("config_sha256"), model_id.get("descriptor"))
