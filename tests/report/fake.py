"""Run folders made by hand for the report's tests: a real config.yaml, a metrics.json built by
vireid's own aggregation from chosen CMC curves, and a metrics.jsonl -- no training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from tests.engine.tiny import CONFIGS
from vireid.config import load_config, save_config
from vireid.evaluation.protocols import get_protocol
from vireid.evaluation.result import SCORE_NAMES, EvalResult, aggregate


def results(base: float, trials: int) -> list[EvalResult]:
    """``trials`` evaluations whose Rank-1 is about ``base`` (a rising CMC of 25 ranks)."""
    out = []
    for t in range(trials):
        r1 = min(0.99, base + 0.01 * t)
        cmc = np.minimum(1.0, r1 + np.linspace(0.0, 1.0 - r1, 25) ** 0.7 * 0.9)
        cmc[0] = r1
        out.append(EvalResult(np.maximum.accumulate(cmc), mAP=r1 - 0.05, mINP=r1 - 0.15, num_valid_queries=10))
    return out


def metrics(protocol: str, base: float, *, trials: int = 10, rerank: bool = False) -> dict:
    """A metrics.json as vireid.engine.evaluator.summarize lays it out."""
    rules = get_protocol(protocol)
    directions = {}
    for i, d in enumerate(rules.reported_directions):
        agg = aggregate(results(base + 0.03 * i, 1 if rules.trial_is_split else trials))
        agg["trials"] = [{"trial": t, **x} for t, x in enumerate(agg["trials"])]
        directions[d] = agg
    averaged = [d for d in directions if d not in rules.extra_directions]
    mean = {m: sum(directions[d]["mean"][m] for d in averaged) / len(averaged) for m in SCORE_NAMES}
    out = {"protocol": protocol, "mean": mean, "directions": directions, "checkpoint": "best.safetensors"}
    if rules.paper_columns:
        out["paper_columns"] = dict(rules.paper_columns)
    if rerank:
        out["rerank"] = True
    return out


def log_records(epochs: int = 3, steps: int = 4, scale: float = 1.0) -> list[dict]:
    recs = []
    for e in range(epochs):
        for s in range(1, steps + 1):
            step = e * steps + s
            recs.append(
                {
                    "step": step,
                    "epoch": e + s / steps,
                    "lr": 0.1 if e == 0 else 0.01,
                    "images_per_s": 100.0,
                    "loss/id": scale * (3.0 - 0.1 * step),
                    "loss/tri": scale * 0.5,
                    "loss/ort": 0.01,
                    "loss/total": scale * (3.5 - 0.1 * step) + 0.01,
                }
            )
        recs.append({"step": (e + 1) * steps, "epoch": e + 1, "eval/rank1": 0.2 + 0.1 * e, "eval/mAP": 0.15 + 0.1 * e})
    return recs


def make_run(
    folder: Path,
    *,
    base: float = 0.5,
    dataset: str = "sysu",
    overrides: Sequence[str] = (),
    trials: int = 10,
    log: bool = True,
    rerank: bool = False,
) -> Path:
    """A finished run folder of the tiny config on ``dataset`` with the given overrides."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = load_config(CONFIGS / "test_tiny.yaml", [f"data.dataset={dataset}", *overrides])
    save_config(cfg, folder / "config.yaml")
    (folder / "metrics.json").write_text(json.dumps(metrics(dataset, base, trials=trials, rerank=rerank)))
    if log:
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log_records()))
    return folder
