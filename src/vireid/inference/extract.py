"""Embedding a folder of images or a CSV manifest: records, descriptors and features files.

``vireid extract`` and ``vireid index build`` use these.  Records come from
:func:`vireid.inference.sources.collect_records` (pids and camids parsed from
``.../{cam}/{pid}/image`` folder names, -1 when absent; a manifest's own columns); the
descriptors are :meth:`vireid.inference.InferenceModel.embed`'s (L2-normalised).  A features file
(:func:`vireid.evaluation.features.save_features`) also records the model identity and the
input in its metadata, and is written atomically only after every image was embedded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from torch import Tensor

from vireid.data.records import Record


def embed_records(model: Any, records: Sequence[Record], modality: str, *, progress: bool = True) -> Tensor:
    """Descriptors ``(N, D)`` of ``records`` (one modality) with an :class:`~vireid.inference.InferenceModel`."""
    return model.embed([r.path for r in records], modality, progress=progress)


def extract_features_file(
    model: Any,
    records: Sequence[Record],
    modality: str,
    out: str | os.PathLike,
    *,
    source: str | os.PathLike | None = None,
    progress: bool = True,
) -> Tensor:
    """Embed ``records`` and write them as a features file at ``out``; returns the descriptors.

    The metadata holds the model identity (checkpoint and config hashes, descriptor size) and
    ``source`` (the folder or manifest the records came from).
    """
    from vireid.evaluation.features import save_features
    from vireid.utils.outputs import FEATURES, check_file, reading

    inputs = {"checkpoint": getattr(model, "source", None), "input": source, "input image": [r.path for r in records]}
    check_file(out, FEATURES, inputs=inputs)  # before any work
    feats = embed_records(model, records, modality, progress=progress)
    meta: dict[str, Any] = {"model": model.model_id}
    if source is not None:
        meta["input"] = str(source)
    with reading(inputs):
        save_features(
            Path(out),
            feats,
            [r.pid for r in records],
            [r.camid for r in records],
            paths=[r.path for r in records],
            modality=modality,
            meta=meta,
        )
    return feats


def build_gallery_index(
    model: Any,
    records: Sequence[Record],
    modality: str,
    *,
    backend: str = "exact",
    nlist: int = 0,
    progress: bool = True,
):
    """A :class:`vireid.search.GalleryIndex` of ``records`` (one modality) embedded by ``model``."""
    from vireid.search import GalleryIndex

    feats = embed_records(model, records, modality, progress=progress)
    entries = [{"path": r.path, "pid": r.pid, "camid": r.camid} for r in records]
    return GalleryIndex(feats, entries, modality=modality, model_id=model.model_id, backend=backend, nlist=nlist)


def build_index_dir(
    model: Any,
    records: Sequence[Record],
    modality: str,
    out: str | os.PathLike,
    *,
    gallery: str | os.PathLike | None = None,
    backend: str = "exact",
    nlist: int = 0,
    progress: bool = True,
):
    """Embed ``records`` into a :class:`vireid.search.GalleryIndex` written to the folder ``out``
    (``vireid index build``); ``out`` is checked before anything is embedded."""
    from vireid.search.folder import check_index_out

    inputs = {"checkpoint": getattr(model, "source", None), "gallery": gallery}
    check_index_out(out, inputs)
    index = build_gallery_index(model, records, modality, backend=backend, nlist=nlist, progress=progress)
    index.save(out, inputs)
    return index
