"""Evaluation driver: extract features with a model and run every :class:`EvalSplit`.

The features of each distinct image are computed once (SYSU-MM01's 10 trials share the
query set and most gallery images), with DEEN's test-time descriptor
(:meth:`vireid.models.base.ReIDModel.embed`: image + flip, all embeddings, pool + BN).
Under DDP each rank embeds a contiguous share of the images and the shares are gathered,
so every rank ends with the same features (and the same metrics).

Distances are ``-<q, g>`` of descriptors that are *not* L2-normalised as a whole (each
embedding's eval features are; :meth:`vireid.models.base.ReIDModel.embed` with
``normalize=False``), the authors' ``-distmat`` of summed inner products exactly;
with ``rerank``, k-reciprocal re-ranking of Euclidean distances between the L2-normalised
descriptors.  :func:`run_splits` returns, per split, a :class:`SplitEvaluation`: the metrics,
the distances scored and the descriptors, so pictures and features files need no second pass.

Results (``metrics.json``)::

    {"protocol": "sysu", "mean": {rank1, rank5, rank10, rank20, mAP, mINP},
     "directions": {"infrared_to_visible": {"num_trials", "mean", "std",
                    "trials": [{"trial": 0, "rank1": ..., ...}, ...]}}}

The top-level ``mean`` averages the per-direction means of the protocol's directions (one
for SYSU-MM01); directions reported besides them (the ``*_paper`` directions of LLCM and RegDB,
computed as the authors' ``test.py`` computes the published columns) are listed under
``directions`` but not averaged.  ``paper_columns`` maps each published column to the direction
whose numbers it is, e.g. ``{"infrared_to_visible": "infrared_to_visible", "visible_to_infrared":
"visible_to_infrared_paper"}`` on LLCM.  All values are fractions in [0, 1].

A split may embed its queries or its gallery with the other modality's stem
(``EvalSplit.query_stem`` / ``gallery_stem``: RegDB as published); each image is embedded once per
stem it goes through.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from vireid.core import distributed as dist_utils
from vireid.core.device import Precision
from vireid.data.loaders import build_test_loader
from vireid.data.protocols import EvalSplit
from vireid.data.records import Record
from vireid.engine.checkpoint import unwrap_model
from vireid.errors import VireidError
from vireid.evaluation import SCORE_NAMES, EvalResult, aggregate, evaluate, format_table
from vireid.evaluation.distance import query_gallery_distance


@dataclass(frozen=True, eq=False)
class SplitEvaluation:
    """One evaluated split: its records, metrics, the distances scored and the descriptors.

    ``features`` holds the descriptor of every distinct image of the evaluation once (shared by
    the splits of one :func:`run_splits` call; not L2-normalised, as scored without ``rerank``);
    ``query_rows`` / ``gallery_rows`` index it.
    """

    split: EvalSplit
    result: EvalResult
    distmat: Tensor  # (num_query, num_gallery), smaller = closer
    features: Tensor  # (num_images, D) float32, CPU
    query_rows: Tensor  # (num_query,) int64
    gallery_rows: Tensor  # (num_gallery,) int64

    @property
    def query_feats(self) -> Tensor:
        return self.features[self.query_rows]

    @property
    def gallery_feats(self) -> Tensor:
        return self.features[self.gallery_rows]

    def keep(self) -> np.ndarray:
        """Which gallery items each query may match (the protocol's rules)."""
        return self.split.keep()


@torch.no_grad()
def _embed(
    model: nn.Module,
    records: Sequence[Record],
    modality: str,
    *,
    height: int,
    width: int,
    batch_size: int,
    num_workers: int,
    device: torch.device,
    flip: bool,
    combine: str,
    precision: Precision | None,
) -> Tensor:
    loader = build_test_loader(records, height=height, width=width, batch_size=batch_size, num_workers=num_workers)
    feats = []
    was_training = model.training
    model.eval()
    try:
        for images, _, _ in loader:
            images = images.to(device)
            with precision.autocast() if precision is not None else contextlib.nullcontext():
                # unnormalised, as DEEN's test.py: -(q . g) then equals its distance matrix exactly
                f = model.embed(images, modality, flip=flip, combine=combine, normalize=False)
            feats.append(f.float())
    finally:
        model.train(was_training)
    return torch.cat(feats)


def extract_features(
    model: nn.Module,
    records: Sequence[Record],
    *,
    height: int,
    width: int,
    batch_size: int = 64,
    num_workers: int = 0,
    device: torch.device | None = None,
    flip: bool = True,
    combine: str = "all",
    precision: Precision | None = None,
    dist_info: dist_utils.DistInfo | None = None,
    stem: str | None = None,
) -> Tensor:
    """Descriptors (N, D) of ``records`` (one modality), in order, on the CPU in float32.

    ``stem``: the modality whose stem embeds them (default: theirs).
    Collective under DDP: every rank must call it with the same records."""
    model = unwrap_model(model)
    device = device or next(model.parameters()).device
    info = dist_info or dist_utils.current()
    if not records:
        raise ValueError("extract_features: no records")
    modality = records[0].modality
    if any(r.modality != modality for r in records):
        raise ValueError("extract_features: records of one modality expected")
    modality = stem or modality
    kw = dict(
        height=height,
        width=width,
        batch_size=batch_size,
        num_workers=num_workers,
        device=device,
        flip=flip,
        combine=combine,
        precision=precision,
    )
    mine = [records[i] for i in dist_utils.shard_range(len(records), info)]
    if mine:
        local = _embed(model, mine, modality, **kw)
    else:  # an empty share (more ranks than images): only the descriptor size is needed
        local = _embed(model, records[:1], modality, **kw)[:0]
    return dist_utils.all_gather_cat(local).cpu()


def _why_nonfinite(
    model: nn.Module,
    record: Record,
    height: int,
    width: int,
    device: torch.device | None,
    flip: bool,
    combine: str,
    precision: Precision | None,
    stem: str | None = None,
) -> str:
    """:func:`vireid.models.diagnose.explain_nonfinite` for one image, as it was embedded (through
    ``stem``'s modality; default its own)."""
    from vireid.models.diagnose import explain_nonfinite

    net = unwrap_model(model)
    device = device or next(net.parameters()).device
    images = next(iter(build_test_loader([record], height=height, width=width, batch_size=1, num_workers=0)))[0]
    was_training = net.training
    net.eval()
    try:
        return explain_nonfinite(
            net,
            images.to(device),
            lambda x: net.embed(x, stem or record.modality, flip=flip, combine=combine, normalize=False),
            context=precision.autocast if precision is not None else contextlib.nullcontext,
            what="this image",
        )
    finally:
        net.train(was_training)


def run_splits(
    model: nn.Module,
    splits: Iterable[EvalSplit],
    *,
    height: int,
    width: int,
    batch_size: int = 64,
    num_workers: int = 0,
    device: torch.device | None = None,
    flip: bool = True,
    combine: str = "all",
    precision: Precision | None = None,
    dist_info: dist_utils.DistInfo | None = None,
    rerank: bool = False,
) -> list[SplitEvaluation]:
    """Evaluate ``model`` on every split; one :class:`SplitEvaluation` per split, in order.

    ``rerank``: k-reciprocal re-ranking (Zhong et al., CVPR 2017; k1=20, k2=6, lambda=0.3)
    of Euclidean distances between the L2-normalised descriptors, instead of DEEN's
    inner-product distance.
    """
    splits = list(splits)
    # (stem, the images' modality) -> the images embedded through that stem
    unique: dict[tuple[str, str], OrderedDict[str, Record]] = {}
    for s in splits:
        for side, stem in ((s.query, s.query_stem), (s.gallery, s.gallery_stem)):
            for r in side:
                unique.setdefault((stem or r.modality, r.modality), OrderedDict()).setdefault(r.path, r)
    index: dict[tuple[str, str], int] = {}  # (stem, path) -> row of ``features``
    embedded: list[tuple[str, Record]] = []  # row -> (stem, record)
    parts: list[Tensor] = []
    for (stem, _), recs in unique.items():
        lst = list(recs.values())
        embedded.extend((stem, r) for r in lst)
        parts.append(
            extract_features(
                model,
                lst,
                stem=stem,
                height=height,
                width=width,
                batch_size=batch_size,
                num_workers=num_workers,
                device=device,
                flip=flip,
                combine=combine,
                precision=precision,
                dist_info=dist_info,
            )
        )
        offset = len(index)
        index.update({(stem, r.path): offset + i for i, r in enumerate(lst)})
    features = torch.cat(parts) if parts else torch.empty(0, 0)
    del parts
    bad = (~torch.isfinite(features).all(dim=1)).nonzero().flatten() if features.numel() else torch.empty(0)
    if len(bad):
        stem, record = embedded[int(bad[0])]
        why = _why_nonfinite(model, record, height, width, device, flip, combine, precision, stem)
        raise VireidError(
            f"the model's descriptors of {len(bad)} of {len(features)} images are NaN or inf; for {record.path}: {why}"
        )
    out = []
    for s in splits:
        q_rows = torch.tensor([index[(s.query_stem or r.modality, r.path)] for r in s.query], dtype=torch.long)
        g_rows = torch.tensor([index[(s.gallery_stem or r.modality, r.path)] for r in s.gallery], dtype=torch.long)
        distmat = query_gallery_distance(features[q_rows], features[g_rows], "inner", rerank=rerank)
        res = evaluate(
            distmat.numpy(),
            [r.pid for r in s.query],
            [r.pid for r in s.gallery],
            [r.camid for r in s.query],
            [r.camid for r in s.gallery],
            protocol=s.protocol,
        )
        out.append(SplitEvaluation(s, res, distmat, features, q_rows, g_rows))
    return out


def _by_direction(results: Sequence[SplitEvaluation]) -> dict[str, list[SplitEvaluation]]:
    by_dir: dict[str, list[SplitEvaluation]] = OrderedDict()
    for e in results:
        by_dir.setdefault(e.split.direction, []).append(e)
    return by_dir


def summarize(results: Sequence[SplitEvaluation], paper_columns: Mapping[str, str] | None = None) -> dict:
    """The ``metrics.json`` structure (module docstring).  ``paper_columns``: published column ->
    direction (default: the protocol's, :attr:`EvalProtocol.paper_columns`)."""
    directions = {}
    for d, items in _by_direction(results).items():
        agg = aggregate([e.result for e in items])
        agg["trials"] = [{"trial": e.split.trial, **t} for e, t in zip(items, agg["trials"], strict=True)]
        directions[d] = agg
    rules = results[0].split.rules
    averaged = [d for d in directions if d not in rules.extra_directions] or list(directions)
    mean = {m: sum(directions[d]["mean"][m] for d in averaged) / len(averaged) for m in SCORE_NAMES}
    out = {"protocol": results[0].split.protocol, "mean": mean, "directions": directions}
    columns = dict(rules.paper_columns) if paper_columns is None else dict(paper_columns)
    paper = {col: d for col, d in columns.items() if d in directions}
    if paper:
        out["paper_columns"] = paper
    return out


def direction_title(direction: str, rules=None) -> str:
    """A direction's table title, saying which one is the paper's column where that needs saying."""
    return rules.title(direction) if rules is not None else direction.replace("_", " ")


def tables(results: Sequence[SplitEvaluation], style: str = "plain") -> str:
    """One metrics table per direction (rows: trials, then mean ± std), in percent."""
    parts = []
    for d, items in _by_direction(results).items():
        names = [f"trial {e.split.trial}" for e in items]
        parts.append(
            f"{direction_title(d, items[0].split.rules)}:\n"
            + format_table([e.result for e in items], names=names, style=style)
        )
    return "\n\n".join(parts)
