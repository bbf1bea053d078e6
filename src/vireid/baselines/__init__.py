"""Hand-crafted re-identification baselines (no learning)."""

from vireid.baselines.color_hist import ColorHistogram, describe_paths, histogram_distance
from vireid.baselines.evaluate import evaluate_color_hist

__all__ = ["ColorHistogram", "describe_paths", "evaluate_color_hist", "histogram_distance"]
