"""A gallery index of L2-normalised descriptors of one modality, searched by inner product.

* ``backend="exact"`` (default): blocked matrix product and a running top-k, exact
  and memory-bounded (one ``(num_queries, block)`` score block at a time).
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

from vireid.errors import ShapeError, VireidError
from vireid.utils.io import atomic_write, atomic_write_json, load_safetensors, save_safetensors

BACKENDS = ("exact", "faiss-flat", "faiss-ivf")
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
        for rank, (i, s) in enumerate(zip(self.indices[q], self.scores[q]), start=1):
            if i < 0:  # faiss pads with -1 when fewer than k results
                continue
            out.append({"rank": rank, "score": float(s), "index": int(i), **self.entries[int(i)]})
        return out


def _blocked_topk(queries: Tensor, gallery: Tensor, k: int, block: int) -> tuple[Tensor, Tensor]:
    """Running top-``k`` of ``queries @ gallery.T`` over gallery blocks (scores in float32)."""
    k = min(k, gallery.shape[0])
    best_s = torch.full((queries.shape[0], 0), float("-inf"))
    best_i = torch.zeros((queries.shape[0], 0), dtype=torch.long)
    for start in range(0, gallery.shape[0], block):
        s = (queries @ gallery[start:start + block].T).float()
        s_top, i_top = s.topk(min(k, s.shape[1]), dim=1)
        cat_s = torch.cat([best_s, s_top], dim=1)
        cat_i = torch.cat([best_i, i_top + start], dim=1)
        best_s, pos = cat_s.topk(min(k, cat_s.shape[1]), dim=1)
        best_i = cat_i.gather(1, pos)
    return best_s, best_i


def _rescore(queries: Tensor, gallery: Tensor, idx: Tensor, chunk: int = 128) -> Tensor:
    """Exact float32 scores of each query against its candidate gallery rows ``idx`` (Q, C)."""
    out = torch.empty(idx.shape, dtype=torch.float32)
    for a in range(0, queries.shape[0], chunk):
        cand = gallery[idx[a:a + chunk]]                          # (q, C, D)
        out[a:a + chunk] = torch.einsum("qcd,qd->qc", cand, queries[a:a + chunk])
    return out


def exact_topk(queries: Tensor, gallery: Tensor, k: int, block: int = 16384, *,
               bf16: bool | None = None, gallery_bf16: Tensor | None = None,
               gallery_bounds: tuple[float, float] | None = None,
               candidates: int = 32) -> tuple[Tensor, Tensor]:
    """Exact top-``k`` inner products of ``queries`` (Q, D) against ``gallery`` (N, D).

    Blocked over the gallery (memory O(Q * (block + k)) whatever N is).  With ``bf16``
    (default: when the CPU has native bf16 dot products) the scan runs in bfloat16 and keeps
    ``candidates`` per query, which are rescored exactly in float32; the result is then
    **certified** exact: with ``eps`` a bound on the bf16 score error (rounding of both
    operands, 2^-9 relative, plus float32 accumulation over D terms, doubled for safety), a
    query is accepted only if its exact k-th score exceeds the best excluded bf16 score by
    more than ``eps``; the (rare) others are recomputed in float32.  Ties between different
    gallery items are resolved arbitrarily, as by ``topk``.
    """
    if queries.dim() != 2 or gallery.dim() != 2 or queries.shape[1] != gallery.shape[1]:
        raise ShapeError(f"expected queries (Q, D) and gallery (N, D) with the same D, got "
                         f"{tuple(queries.shape)} and {tuple(gallery.shape)}")
    k = min(k, gallery.shape[0])
    if bf16 is None:
        bf16 = _native_bf16() and gallery.shape[0] > 4 * candidates
    if not bf16 or candidates <= k or gallery.shape[0] <= candidates:
        return _blocked_topk(queries, gallery, k, block)
    gb = gallery_bf16 if gallery_bf16 is not None else gallery.to(torch.bfloat16)
    qb = queries.to(torch.bfloat16)
    approx, cand = _blocked_topk(qb, gb, candidates, block)
    exact = _rescore(queries, gallery, cand)
    s, pos = exact.topk(k, dim=1)
    idx = cand.gather(1, pos)
    # error bound of bf16 scores for each query against any gallery row
    q_norm = queries.norm(dim=1)
    q_err = (qb.float() - queries).norm(dim=1)
    g_norm, g_err = gallery_bounds if gallery_bounds is not None else bf16_bounds(gallery, gb)
    gamma = queries.shape[1] * 2.0 ** -24 * 1.01
    eps = 2.0 * (q_err * g_norm + (q_norm + q_err) * g_err + gamma * (q_norm + q_err) * (g_norm + g_err))
    cutoff = approx[:, -1]                                      # best bf16 score left out
    unsure = (s[:, -1] <= cutoff + eps).nonzero().flatten()
    if len(unsure):
        s_u, i_u = _blocked_topk(queries[unsure], gallery, k, block)
        s[unsure], idx[unsure] = s_u, i_u
    return s, idx


def bf16_bounds(gallery: Tensor, gallery_bf16: Tensor, chunk: int = 16384) -> tuple[float, float]:
    """(max row norm, max row norm of the bf16 rounding error) of a gallery, for the certificate."""
    g_norm = g_err = 0.0
    for a in range(0, gallery.shape[0], chunk):
        g = gallery[a:a + chunk]
        g_norm = max(g_norm, float(g.norm(dim=1).max()))
        g_err = max(g_err, float((gallery_bf16[a:a + chunk].float() - g).norm(dim=1).max()))
    return g_norm, g_err


def _native_bf16() -> bool:
    """True on CPUs with native bf16 dot products (AVX512-BF16 / AMX), where bf16 is fast."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(cpu, probe, None)
        try:
            if fn is not None and fn():
                return True
        except Exception:  # pragma: no cover - probe unusable on this build
            pass
    return False


@dataclass
class GalleryIndex:
    """Descriptors (N, D) with their entries (``path``, ``pid``, ``camid``) and model identity."""

    feats: Tensor
    entries: list[dict]
    modality: str
    model_id: dict[str, Any] = field(default_factory=dict)
    backend: str = "exact"
    nlist: int = 0
    _faiss: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise VireidError(f"unknown search backend {self.backend!r}; expected one of {', '.join(BACKENDS)}")
        if self.feats.dim() != 2 or self.feats.shape[0] != len(self.entries):
            raise ShapeError(f"gallery features {tuple(self.feats.shape)} do not match {len(self.entries)} entries")
        if self.feats.shape[0] == 0:
            raise VireidError("the gallery is empty: nothing to index")
        if not torch.isfinite(self.feats).all():
            raise ShapeError("gallery features contain NaN or inf")
        self.feats = self.feats.float().contiguous()
        if self.backend != "exact" and self._faiss is None:
            self._faiss = self._build_faiss()

    def _bf16_feats(self) -> Tensor | None:
        """bfloat16 copy of the gallery for the certified fast scan (built once, when useful)."""
        if not _native_bf16():
            return None
        if getattr(self, "_feats_bf16", None) is None:
            self._feats_bf16 = self.feats.to(torch.bfloat16)
            self._bf16_bounds = bf16_bounds(self.feats, self._feats_bf16)
        return self._feats_bf16

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
    def search(self, queries: Tensor, k: int = 10, *, query_modality: str | None = None,
               query_model_id: dict[str, Any] | None = None, nprobe: int = 16,
               allow_same_modality: bool = False) -> SearchResult:
        """Top-``k`` gallery entries for each query descriptor (Q, D)."""
        if query_model_id is not None and self.model_id and (
                _identity(query_model_id, self.model_id) != _identity(self.model_id, query_model_id)):
            raise VireidError(
                "the query was embedded by another model than the gallery index (index: "
                f"{_identity(self.model_id, query_model_id)}, query: {_identity(query_model_id, self.model_id)}); "
                "rebuild the index or use the index's checkpoint")
        if query_modality is not None and query_modality == self.modality and not allow_same_modality:
            other = "infrared" if self.modality == "visible" else "visible"
            raise VireidError(f"this index holds {self.modality} images; cross-modal search needs a "
                              f"{other} query (got a {query_modality} query)")
        if queries.dim() == 1:
            queries = queries[None]
        if queries.dim() != 2 or queries.shape[1] != self.feats.shape[1]:
            raise ShapeError(f"query descriptors must be (Q, {self.feats.shape[1]}), got {tuple(queries.shape)}")
        queries = queries.float().contiguous()
        if self.backend == "exact":
            gb = self._bf16_feats()
            s, i = exact_topk(queries, self.feats, k, gallery_bf16=gb,
                              gallery_bounds=self._bf16_bounds if gb is not None else None)
            scores, idx = s.numpy(), i.numpy()
        else:
            if self.backend == "faiss-ivf":
                self._faiss.nprobe = min(nprobe, self.nlist)
            scores, idx = self._faiss.search(queries.numpy(), min(k, len(self.entries)))
        return SearchResult(scores=scores, indices=idx, entries=self.entries)

    # -- persistence -------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write ``feats.safetensors``, ``index.json`` (and ``faiss.index``) atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_safetensors({"feats": self.feats}, directory / "feats.safetensors")
        if self._faiss is not None:
            import faiss

            blob = faiss.serialize_index(self._faiss)
            with atomic_write(directory / "faiss.index", "wb") as fh:
                fh.write(blob.tobytes())
        atomic_write_json(directory / "index.json", {
            "format": "vireid-index", "version": FORMAT_VERSION, "modality": self.modality,
            "backend": self.backend, "nlist": self.nlist, "model": self.model_id, "entries": self.entries,
        })

    @classmethod
    def load(cls, directory: str | Path) -> "GalleryIndex":
        directory = Path(directory)
        meta_path = directory / "index.json"
        if not meta_path.is_file():
            raise VireidError(f"{directory}: not a vireid index (missing index.json)")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise VireidError(f"{meta_path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        if meta.get("format") != "vireid-index":
            raise VireidError(f"{meta_path}: not a vireid index file")
        tensors, _ = load_safetensors(directory / "feats.safetensors")
        faiss_index = None
        if meta["backend"] != "exact":
            try:
                import faiss
            except ImportError:
                raise VireidError(f"{directory}: index uses {meta['backend']}; pip install 'vireid[search]'") from None
            raw = np.frombuffer((directory / "faiss.index").read_bytes(), dtype=np.uint8)
            faiss_index = faiss.deserialize_index(raw)
        return cls(feats=tensors["feats"], entries=meta["entries"], modality=meta["modality"],
                   model_id=meta.get("model", {}), backend=meta["backend"], nlist=meta.get("nlist", 0),
                   _faiss=faiss_index)


def _identity(model_id: dict[str, Any], other: dict[str, Any] | None = None) -> tuple:
    """What must agree between the index's model and the query's: the tensors' hash (the checkpoint
    file's hash for indexes written before vireid hashed tensors), the inference config, the size."""
    key = "weights_sha256" if "weights_sha256" in model_id and (other is None or "weights_sha256" in other) \
        else "checkpoint_sha256"
    return (model_id.get(key), model_id.get("config_sha256"), model_id.get("descriptor"))
