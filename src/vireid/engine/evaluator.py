"""Evaluation driver: extract features with a model and run every :class:`EvalSplit`.

The features of each distinct image are computed once (SYSU-MM01's 10 trials share the
query set and most gallery images), with DEEN's test-time descriptor
(:meth:`vireid.models.base.ReIDModel.embed`: image + flip, all embeddings, pool + BN).
Under DDP each rank embeds a contiguous share of the images and the shares are gathered,
so every rank ends with the same features (and the same metrics).

Distances are ``-<q, g>`` of the L2-normalised descriptors (ranking-equivalent to the
authors' ``-distmat`` of summed inner products, and to Euclidean distance).

Results (``metrics.json``)::

    {"protocol": "sysu", "mean": {rank1, rank5, rank10, rank20, mAP, mINP},
     "directions": {"infrared_to_visible": {"num_trials", "mean", "std",
                    "trials": [{"trial": 0, "rank1": ..., ...}, ...]}}}

The top-level ``mean`` averages the per-direction means (one direction for SYSU-MM01);
all values are fractions in [0, 1].
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.data.loaders import build_test_loader
from vireid.data.protocols import EvalSplit
from vireid.data.records import Record
from vireid.engine import distributed as dist_utils
from vireid.engine.amp import Precision
from vireid.engine.checkpoint import unwrap_model
from vireid.evaluation import METRICS, EvalResult, aggregate, evaluate, format_table


@torch.no_grad()
def _embed(model: nn.Module, records: Sequence[Record], modality: str, *, height: int, width: int,
           batch_size: int, num_workers: int, device: torch.device, flip: bool, combine: str,
           precision: Precision | None) -> Tensor:
    loader = build_test_loader(records, height=height, width=width, batch_size=batch_size,
                               num_workers=num_workers)
    feats = []
    was_training = model.training
    model.eval()
    try:
        for images, _, _ in loader:
            images = images.to(device)
            with (precision.autocast() if precision is not None else contextlib.nullcontext()):
                # unnormalised, as DEEN's test.py: -(q . g) then equals its distance matrix exactly
                f = model.embed(images, modality, flip=flip, combine=combine, normalize=False)
            feats.append(f.float())
    finally:
        model.train(was_training)
    return torch.cat(feats)


def extract_features(model: nn.Module, records: Sequence[Record], *, height: int, width: int,
                     batch_size: int = 64, num_workers: int = 0, device: torch.device | None = None,
                     flip: bool = True, combine: str = "all", precision: Precision | None = None,
                     dist_info: dist_utils.DistInfo | None = None) -> Tensor:
    """Descriptors (N, D) of ``records`` (one modality), in order, on the CPU in float32.

    Collective under DDP: every rank must call it with the same records."""
    model = unwrap_model(model)
    device = device or next(model.parameters()).device
    info = dist_info or dist_utils.current()
    if not records:
        raise ValueError("extract_features: no records")
    modality = records[0].modality
    if any(r.modality != modality for r in records):
        raise ValueError("extract_features: records of one modality expected")
    kw = dict(height=height, width=width, batch_size=batch_size, num_workers=num_workers, device=device,
              flip=flip, combine=combine, precision=precision)
    mine = [records[i] for i in dist_utils.shard_range(len(records), info)]
    if mine:
        local = _embed(model, mine, modality, **kw)
    else:  # an empty share (more ranks than images): only the descriptor size is needed
        local = _embed(model, records[:1], modality, **kw)[:0]
    return dist_utils.all_gather_cat(local).cpu()


def run_splits(model: nn.Module, splits: Iterable[EvalSplit], *, height: int, width: int,
               batch_size: int = 64, num_workers: int = 0, device: torch.device | None = None,
               flip: bool = True, combine: str = "all", precision: Precision | None = None,
               dist_info: dist_utils.DistInfo | None = None,
               rerank: bool = False) -> list[tuple[EvalSplit, EvalResult, Tensor]]:
    """Evaluate ``model`` on every split; returns ``(split, result, distmat)`` per split.

    ``rerank``: k-reciprocal re-ranking (Zhong et al., CVPR 2017; k1=20, k2=6, lambda=0.3)
    of Euclidean distances between the L2-normalised descriptors, instead of DEEN's
    inner-product distance.
    """
    splits = list(splits)
    unique: dict[str, OrderedDict[str, Record]] = {}
    for s in splits:
        for r in (*s.query, *s.gallery):
            unique.setdefault(r.modality, OrderedDict()).setdefault(r.path, r)
    index: dict[tuple[str, str], int] = {}
    feats: dict[str, Tensor] = {}
    for modality, recs in unique.items():
        lst = list(recs.values())
        feats[modality] = extract_features(model, lst, height=height, width=width, batch_size=batch_size,
                                           num_workers=num_workers, device=device, flip=flip, combine=combine,
                                           precision=precision, dist_info=dist_info)
        index.update({(modality, r.path): i for i, r in enumerate(lst)})
    out = []
    for s in splits:
        q = torch.stack([feats[r.modality][index[(r.modality, r.path)]] for r in s.query])
        g = torch.stack([feats[r.modality][index[(r.modality, r.path)]] for r in s.gallery])
        if rerank:
            from vireid.evaluation.distance import pairwise_distance
            from vireid.evaluation.rerank import re_rank

            qn, gn = F.normalize(q, dim=1), F.normalize(g, dim=1)
            distmat = torch.from_numpy(re_rank(pairwise_distance(qn, gn), pairwise_distance(qn, qn),
                                               pairwise_distance(gn, gn)).astype("float32"))
        else:
            distmat = -(q @ g.t())
        res = evaluate(distmat.numpy(), [r.pid for r in s.query], [r.pid for r in s.gallery],
                       [r.camid for r in s.query], [r.camid for r in s.gallery], protocol=s.protocol)
        out.append((s, res, distmat))
    return out


def summarize(results: Sequence[tuple[EvalSplit, EvalResult, Tensor]]) -> dict:
    """The ``metrics.json`` structure (module docstring)."""
    by_dir: dict[str, list[tuple[EvalSplit, EvalResult]]] = OrderedDict()
    for s, r, _ in results:
        by_dir.setdefault(s.direction, []).append((s, r))
    directions = {}
    for d, items in by_dir.items():
        agg = aggregate([r for _, r in items])
        agg["trials"] = [{"trial": s.trial, **t} for (s, _), t in zip(items, agg["trials"])]
        directions[d] = agg
    mean = {m: sum(v["mean"][m] for v in directions.values()) / len(directions) for m in METRICS}
    return {"protocol": results[0][0].protocol, "mean": mean, "directions": directions}


def tables(results: Sequence[tuple[EvalSplit, EvalResult, Tensor]], style: str = "plain") -> str:
    """One metrics table per direction (rows: trials, then mean ± std), in percent."""
    by_dir: dict[str, list[tuple[EvalSplit, EvalResult]]] = OrderedDict()
    for s, r, _ in results:
        by_dir.setdefault(s.direction, []).append((s, r))
    parts = []
    for d, items in by_dir.items():
        names = [f"trial {s.trial}" for s, _ in items]
        parts.append(f"{d.replace('_', ' ')}:\n" + format_table([r for _, r in items], names=names, style=style))
    return "\n\n".join(parts)
