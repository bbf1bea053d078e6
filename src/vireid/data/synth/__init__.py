"""Synthetic VI-ReID benchmark: ``generate`` a dataset in an official layout.

``generate(out, layout, num_ids=..., seed=..., difficulty=..., images_per_id_per_cam=...)`` writes
SYSU-MM01, RegDB or LLCM layouts; ``generate(out, layout, scale="paper")`` the official datasets'
counts and crop sizes (:mod:`vireid.data.synth.paper`; a fraction scales them down);
``ensure_dataset(root, layout, **params)`` reuses one with the same settings and never replaces one
with other settings unless asked (``force``).
"""

from vireid.data.synth.generator import (
    DEFAULT_HEIGHT_RANGE,
    DEFAULT_NUM_IDS,
    SynthSummary,
    ensure_dataset,
    generate,
    read_meta,
    resolve_params,
)
from vireid.data.synth.layouts import LAYOUTS

__all__ = [
    "DEFAULT_HEIGHT_RANGE",
    "DEFAULT_NUM_IDS",
    "LAYOUTS",
    "SynthSummary",
    "ensure_dataset",
    "generate",
    "read_meta",
    "resolve_params",
]
