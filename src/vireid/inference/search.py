"""Searching a gallery index (:class:`vireid.search.GalleryIndex`) with query images (``vireid search``).

The search is cross-modal: the queries must be of the other modality than the index's
gallery, and embedded by the same model (the index refuses descriptors of another model).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from vireid.errors import VireidError


def query_checkpoint(
    index: Any,
    modality: str,
    checkpoint: str | os.PathLike | None = None,
    *,
    where: str = "index",
    option: str = "modality",
) -> str:
    """The checkpoint to embed ``modality`` queries for ``index`` with: ``checkpoint``, else the
    one the index records.  Checked before any model is loaded: the queries must be of the
    other modality than the gallery (``option``: what the caller calls the query modality)."""
    if modality == index.modality:
        other = "infrared" if index.modality == "visible" else "visible"
        raise VireidError(
            f"{where} holds {index.modality} images; cross-modal search needs {option} {other} "
            f"(got {option} {modality})"
        )
    found = checkpoint or index.model_id.get("checkpoint")
    if not found:
        raise VireidError(f"{where}: the index records no checkpoint; pass a checkpoint")
    return str(found)


def search_images(index: Any, model: Any, images: Sequence[Any], modality: str, *, topk: int = 10, nprobe: int = 16):
    """Embed ``images`` with ``model`` (an :class:`~vireid.inference.InferenceModel`) and rank the index's
    gallery for each; returns the index's :class:`vireid.search.SearchResult`."""
    if topk < 1:
        raise VireidError(f"topk must be >= 1, got {topk}")
    queries = model.embed(list(images), modality)
    return index.search(queries, topk, query_modality=modality, query_model_id=model.model_id, nprobe=nprobe)
