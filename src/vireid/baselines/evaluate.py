"""Run the colour-histogram baseline over a dataset's evaluation splits (official protocols)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from vireid.baselines.color_hist import ColorHistogram, describe_paths, histogram_distance


def evaluate_color_hist(splits: Iterable, descriptor: ColorHistogram | None = None, metric: str = "chi2") -> list:
    """One :class:`vireid.evaluation.EvalResult` per :class:`~vireid.data.protocols.EvalSplit`.

    Descriptors are computed once per image path and reused across trials and directions.
    """
    from vireid.evaluation import evaluate

    descriptor = descriptor or ColorHistogram()
    cache: dict[str, np.ndarray] = {}
    results = []
    for split in splits:
        qf = describe_paths([r.path for r in split.query], descriptor, cache)
        gf = describe_paths([r.path for r in split.gallery], descriptor, cache)
        results.append(
            evaluate(
                histogram_distance(qf, gf, metric),
                np.array([r.pid for r in split.query]),
                np.array([r.pid for r in split.gallery]),
                np.array([r.camid for r in split.query]),
                np.array([r.camid for r in split.gallery]),
                protocol=split.protocol,
            )
        )
    return results
