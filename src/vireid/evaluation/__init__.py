"""Evaluation: the official VI-ReID protocols, features files, re-ranking.

``evaluate(distmat, q_pids, g_pids, q_camids, g_camids, protocol=...)`` reproduces
the AGW/DEEN evaluation code (``sysu``, ``regdb``, ``llcm``); see
:mod:`vireid.evaluation.metrics` for its definitions and deliberate choices.
"""

from vireid.evaluation.checks import PROTOCOLS
from vireid.evaluation.distance import pairwise_distance
from vireid.evaluation.features import FeatureSet, load_features, save_features
from vireid.evaluation.metrics import evaluate
from vireid.evaluation.rerank import re_rank
from vireid.evaluation.result import SCORE_NAMES, EvalResult, aggregate, format_table

__all__ = [
    "PROTOCOLS",
    "SCORE_NAMES",
    "EvalResult",
    "FeatureSet",
    "aggregate",
    "evaluate",
    "format_table",
    "load_features",
    "pairwise_distance",
    "re_rank",
    "save_features",
]


def __getattr__(name: str):
    # ``METRICS`` was this package's name for SCORE_NAMES (vireid 0.1); kept as a deprecated alias
    if name == "METRICS":
        import warnings

        warnings.warn(
            "vireid.evaluation.METRICS is deprecated; use vireid.evaluation.SCORE_NAMES",
            DeprecationWarning,
            stacklevel=2,
        )
        return SCORE_NAMES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
