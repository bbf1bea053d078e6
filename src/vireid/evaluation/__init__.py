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
from vireid.evaluation.result import METRICS, EvalResult, aggregate, format_table

__all__ = ["PROTOCOLS", "METRICS", "EvalResult", "FeatureSet", "aggregate", "evaluate",
           "format_table", "load_features", "pairwise_distance", "re_rank", "save_features"]
