"""Published results (``published.yaml``, shipped with the package): the rows ``--targets paper`` adds.

One data file holds every published number vireid sets beside a run, each with its source and the
precision that source prints.  The file is checked when read: every entry names a known dataset,
setting, score and source.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from vireid.errors import VireidError
from vireid.report.settings import SCORES

PUBLISHED_FILE = Path(__file__).with_name("published.yaml")
SETTINGS = {
    "sysu": ("all-single", "indoor-single", "all-multi", "indoor-multi"),
    "regdb": ("visible_to_infrared", "infrared_to_visible"),
    "llcm": ("infrared_to_visible", "visible_to_infrared"),
}
TARGETS = ("paper",)  # what --targets takes


@dataclass(frozen=True)
class Published:
    """One published setting of one method: scores in percent, as printed with ``decimals``."""

    method: str
    dataset: str
    setting: str
    scores: dict[str, float]
    source: str  # the source's text
    decimals: int

    def text(self, score: str) -> str | None:
        v = self.scores.get(score)
        return None if v is None else f"{v:.{self.decimals}f}"


@lru_cache(maxsize=4)
def load_published(path: Path = PUBLISHED_FILE) -> tuple[Published, ...]:
    """Every entry of the data file, checked."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise VireidError(f"{path}: cannot read the published results ({exc})") from None
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, dict) or not isinstance(data.get("results"), list):
        raise VireidError(f"{path}: expected 'sources' and 'results'")
    known = {k for k, _ in SCORES}
    out = []
    for i, r in enumerate(data["results"]):
        where = f"{path}: results[{i}]"
        if not isinstance(r, dict) or not {"method", "dataset", "setting", "source", "scores"} <= set(r):
            raise VireidError(f"{where}: needs method, dataset, setting, source and scores")
        if r["setting"] not in SETTINGS.get(r["dataset"], ()):
            raise VireidError(f"{where}: unknown dataset/setting {r['dataset']}/{r['setting']}")
        src = sources.get(r["source"])
        if not isinstance(src, dict) or "text" not in src or "decimals" not in src:
            raise VireidError(f"{where}: source {r['source']!r} is not listed under 'sources' with text and decimals")
        scores = r["scores"]
        if not isinstance(scores, dict) or not scores or not set(scores) <= known:
            raise VireidError(f"{where}: scores must be some of {sorted(known)}")
        if not all(isinstance(v, (int, float)) and 0 <= v <= 100 for v in scores.values()):
            raise VireidError(f"{where}: scores are percentages in [0, 100]")
        out.append(
            Published(
                str(r["method"]),
                r["dataset"],
                r["setting"],
                {k: float(v) for k, v in scores.items()},
                " ".join(str(src["text"]).split()),
                int(src["decimals"]),
            )
        )
    return tuple(out)


def targets_for(dataset: str, targets: str = "paper") -> dict[str, dict[str, Published]]:
    """``{method: {setting: Published}}`` for one dataset, methods in the file's order."""
    if targets not in TARGETS:
        raise VireidError(f"--targets: unknown {targets!r}; expected one of {', '.join(TARGETS)}")
    out: dict[str, dict[str, Published]] = {}
    for p in load_published():
        if p.dataset == dataset:
            out.setdefault(p.method, {})[p.setting] = p
    return out
