"""Reading a ``metrics.json`` back: the one reader ``vireid report`` and ``vireid visualize cmc`` use.

A ``metrics.json`` (``vireid train``, ``test``, the demo's ``metrics_untrained.json``) is the
structure :func:`vireid.engine.evaluator.summarize` writes: ``protocol``, and per direction its
``mean`` scores (fractions) and its mean ``cmc`` curve.  :func:`read_metrics_json` refuses, with
one line naming the file and the field, anything else: a file too large to be one, JSON that is
not readable (or nested deeper than
:data:`~vireid.utils.jsonio.MAX_JSON_DEPTH` levels), a missing or non-numeric score, a score that
is not a fraction in [0, 1] (NaN, a percentage), a CMC curve that is empty, not a list of
fractions, not cumulative (it falls somewhere) or at odds with a mean Rank-k, a ``num_trials``
that is not a count of the trials listed.
Written here, not with a schema library: the rules are few and the messages must name the field.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

from vireid.errors import VireidError
from vireid.evaluation.result import SCORE_NAMES
from vireid.utils.jsonio import json_loads
from vireid.utils.paths import file_problem

MAX_BYTES = 64 * 2**20  # a metrics.json is a few kB; anything far larger is not one
MAX_CMC = 100_000  # ranks of a stored CMC curve (vireid stores 20)
RANK_TOLERANCE = 1e-4  # a mean Rank-k and the mean CMC at k may differ by rounding only


def _fraction(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def _ranks_match_cmc(path: Path, name: str, mean: dict[str, Any], cmc: list | None) -> None:
    """Each mean Rank-k is the mean CMC curve at rank k (both are means over the same trials)."""
    for m in SCORE_NAMES:
        k = int(m[4:]) if m.startswith("rank") else 0
        if cmc and m in mean and 0 < k <= len(cmc) and abs(mean[m] - cmc[k - 1]) > RANK_TOLERANCE:
            raise VireidError(
                f"{path}: direction {name!r}: mean {m} is {mean[m]} but the 'cmc' curve at rank {k} is "
                f"{cmc[k - 1]}; they are the same score (the mean over the trials)"
            )


def read_metrics_json(path: str | os.PathLike, *, scores: Sequence[str] = ()) -> dict[str, Any]:
    """The content of the ``metrics.json`` at ``path``, each direction's ``scores`` (names of its
    ``mean``) required and every score it holds a fraction; refused with one line where it is not
    one (module docstring)."""
    path = Path(path)
    problem = file_problem(path, "metrics.json")
    if problem:  # not found, a folder, a link to nothing, a pipe (a read would wait) or a device
        raise VireidError(f"{path}: {'not found' if problem.endswith('not found') else problem}")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise VireidError(f"{path}: {size} bytes; not a vireid metrics.json (refused above {MAX_BYTES})")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise VireidError(f"{path}: not found") from None
    except IsADirectoryError:
        raise VireidError(f"{path}: is a folder, not a metrics.json") from None
    except OSError as exc:
        raise VireidError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    data = json_loads(raw, str(path), expected="a vireid metrics.json")
    directions = data.get("directions") if isinstance(data, dict) else None
    if not isinstance(directions, dict) or not directions or not isinstance(data.get("protocol"), str):
        raise VireidError(f"{path}: not a vireid metrics.json (it needs 'protocol' and 'directions')")
    for name, d in directions.items():
        mean = d.get("mean") if isinstance(d, dict) else None
        if not isinstance(mean, dict):
            raise VireidError(f"{path}: direction {name!r} has no 'mean' scores")
        missing = [m for m in scores if m not in mean]
        if missing:
            raise VireidError(f"{path}: direction {name!r} has no {', '.join(missing)} in its 'mean'")
        for m in [*scores, *(k for k in SCORE_NAMES if k in mean and k not in scores)]:
            if not _fraction(mean[m]):
                raise VireidError(
                    f"{path}: direction {name!r}: mean {m} is {json.dumps(mean[m])}; expected a fraction in [0, 1]"
                )
        cmc = d.get("cmc")
        if cmc is not None and not (
            isinstance(cmc, list) and 0 < len(cmc) <= MAX_CMC and all(_fraction(v) for v in cmc)
        ):
            raise VireidError(
                f"{path}: direction {name!r}: 'cmc' is not a list of fractions in [0, 1] (the mean CMC, rank 1 first)"
            )
        falls = [r for r in range(1, len(cmc or [])) if cmc[r] < cmc[r - 1]]
        if falls:
            raise VireidError(
                f"{path}: direction {name!r}: 'cmc' falls at rank {falls[0] + 1} ({cmc[falls[0] - 1]} -> "
                f"{cmc[falls[0]]}); "
                "a CMC curve is cumulative, never decreasing"
            )
        _ranks_match_cmc(path, name, mean, cmc)
        trials = d.get("num_trials")
        if trials is not None and (type(trials) is not int or trials < 1):
            raise VireidError(
                f"{path}: direction {name!r}: num_trials is {json.dumps(trials)}; expected an integer >= 1"
            )
        if isinstance(d.get("trials"), list) and trials is not None and len(d["trials"]) != trials:
            raise VireidError(
                f"{path}: direction {name!r}: num_trials is {trials} but {len(d['trials'])} trials are listed"
            )
    return data
