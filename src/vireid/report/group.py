"""Which runs a report may put side by side, and which of them form one row.

**Comparable.** Every run of one report is scored on the same data by the same rules: the same
protocol and dataset layout, the same synthetic data settings (``data.synth``, when generated;
and the ``synth.json`` of a ``vireid synth`` folder, where both runs' data folders are readable),
the same test-time descriptor (``eval.flip``, ``eval.combine``), re-ranking or not, and the same
number of trials per direction.  Anything else is refused, naming the setting and both runs.

**Rows.** Runs whose configs are equal except for the *pooled* keys (``--group-by``: ``seed`` is
``train.seed``, ``trial`` RegDB's ``data.trial``, or any dotted config key; ``none``: every run
is a row of its own, e.g. a run's ``metrics.json`` beside its ``metrics_untrained.json``) form one row: its
numbers are the mean and the sample standard deviation over those runs, with their count.  Keys
that change no result (:data:`IGNORED`) and SYSU-MM01's search mode and shots (a setting, i.e.
a column group: the all-search and the indoor-search run of one method share a row) are left
out of the comparison.  A row holds each setting at most once per pooled value: the same seed
twice would count one run two times.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any, Sequence

from vireid.errors import VireidError
from vireid.evaluation.protocols import PAPER_SUFFIX
from vireid.report.runs import RunRecord, flatten
from vireid.report.settings import SCORES, Setting, expected_directions, run_settings
from vireid.utils.paths import synth_meta

ALIASES = {"seed": "train.seed", "trial": "data.trial"}
DEFAULT_GROUP_BY = ("seed", "trial")
#: settings of a run that change none of its numbers, or name where it ran
IGNORED = (
    "data.root",
    "data.workers",
    "data.test_batch_size",
    "data.synth.force",
    "train.progress",
    "train.log_every",
    "train.tensorboard",
    "train.device",
    "train.threads",
    "train.checkpoint_every",
)
SETTING_KEYS = ("data.mode", "data.shot")


@dataclass(frozen=True)
class Cell:
    """One setting of one row: its runs and their mean / sample std per score (fractions)."""

    setting: Setting
    runs: tuple[RunRecord, ...]
    values: dict[str, tuple[float, ...]]
    mean: dict[str, float]
    std: dict[str, float]
    cmc: tuple[tuple[float, ...], ...]  # each run's mean CMC curve (empty where a run lacks one)

    @property
    def n(self) -> int:
        return len(self.runs)


@dataclass(frozen=True)
class Row:
    label: str
    runs: tuple[RunRecord, ...]
    differs: dict[str, Any]  # the row's values of the config keys that tell the rows apart
    cells: dict[str, Cell]  # setting key -> cell


def pooled_keys(group_by: Sequence[str], runs: Sequence[RunRecord] = ()) -> tuple[str, ...]:
    """``--group-by`` values as dotted config keys: ``seed``, ``trial`` (RegDB's, where a run has
    it) or a key of the config schema or of one of the ``runs``' configs (a dataset's options,
    ``model.args.*``)."""
    from vireid.config import Config, to_dict

    known = set(flatten(to_dict(Config()))).union(*(flatten(r.config) for r in runs))
    out = []
    if "none" in group_by:
        if len(group_by) > 1:
            raise VireidError("--group-by: none (every run its own row) goes alone")
        return ()
    for g in group_by:
        key = ALIASES.get(g, g)
        if g not in ALIASES and key not in known and not key.startswith(("model.args.", "data.synth.")):
            raise VireidError(
                f"--group-by: {g!r} is not seed, trial or a key of the runs' configs "
                "(e.g. train.seed, data.trial, model.name)"
            )
        out.append(key)
    return tuple(out)


SYNTH_JSON = "synthetic data (synth.json)"


def synth_params(run: RunRecord) -> dict[str, Any] | None:
    """The generator settings of the run's data folder (``synth.json`` of ``vireid synth`` or a
    config's ``data.synth``), None when the folder is not at hand or not synthetic."""
    meta = synth_meta(str(run.config.get("data", {}).get("root", "")))  # a bad synth.json: one line naming it
    return meta["params"] if meta is not None else None


def comparability(run: RunRecord) -> dict[str, Any]:
    """What must be equal for two runs to be set side by side (module docstring)."""
    flat = flatten(run.config)
    synth = {k: v for k, v in flat.items() if k.startswith("data.synth") and k not in IGNORED}
    params = synth_params(run)
    if params is not None:
        synth[SYNTH_JSON] = params
    return {
        "protocol": run.metrics["protocol"],
        "data.dataset": flat.get("data.dataset"),
        **synth,
        "eval.flip": flat.get("eval.flip"),
        "eval.combine": flat.get("eval.combine"),
        "rerank": bool(run.metrics.get("rerank", False)),
        "trials per direction": {
            d: v.get("num_trials") for d, v in sorted(run.metrics["directions"].items()) if not d.endswith(PAPER_SUFFIX)
        },
    }


def check_comparable(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """The shared :func:`comparability` of ``runs``; refuses the first difference (one line)."""
    first = comparability(runs[0])
    for run in runs[1:]:
        other = comparability(run)
        for key in sorted(set(first) | set(other)):
            if key == SYNTH_JSON and (key not in first or key not in other):
                continue  # a data folder not at hand here: its config settings still are compared
            if first.get(key) != other.get(key):
                raise VireidError(
                    f"{run.name} is not comparable with {runs[0].name}: {key} is {other.get(key)!r} there but "
                    f"{first.get(key)!r} in {runs[0].name} ({run.config_source} vs {runs[0].config_source}); "
                    "a report compares runs scored on the same data by the same rules"
                )
    return first


def _row_key(run: RunRecord, pooled: Sequence[str], shared: dict[str, Any]) -> dict[str, str]:
    skip = set(pooled) | set(IGNORED) | set(SETTING_KEYS) | set(shared)
    return {k: json.dumps(v, sort_keys=True) for k, v in flatten(run.config).items() if k not in skip}


def _cell(setting: Setting, runs: Sequence[RunRecord]) -> Cell:
    values = {m: tuple(float(r.metrics["directions"][setting.direction]["mean"][m]) for r in runs) for m, _ in SCORES}
    mean = {m: (v[0] if len(v) == 1 else statistics.fmean(v)) for m, v in values.items()}
    std = {m: (statistics.stdev(v) if len(v) > 1 else 0.0) for m, v in values.items()}
    cmc = tuple(tuple(r.metrics["directions"][setting.direction].get("cmc") or ()) for r in runs)
    return Cell(setting, tuple(runs), values, mean, std, cmc)


def group_runs(
    runs: Sequence[RunRecord], group_by: Sequence[str] = DEFAULT_GROUP_BY, columns: str = "paper"
) -> tuple[list[Row], dict]:
    """Rows of comparable runs (module docstring), in the order their first run was given, each
    column filled as ``columns`` asks (:func:`vireid.report.settings.run_settings`); returns
    ``(rows, what every run shares)``.  Runs that would fill one column from different directions
    (one records the paper's computation, the other does not) are refused."""
    from vireid.utils.paths import same_path

    for i, a in enumerate(runs):
        for b in runs[:i]:
            if same_path(a.metrics_file, b.metrics_file):
                raise VireidError(f"{a.name}: given twice (it is {b.name})")
    shared = check_comparable(runs)
    pooled = pooled_keys(group_by, runs)
    keys = [_row_key(r, pooled, shared) for r in runs]
    order: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        order.setdefault(str(i) if "none" in group_by else json.dumps(k, sort_keys=True), []).append(i)
    varying = sorted({k for a in keys for k in a if any(a.get(k) != b.get(k) for b in keys)})
    filled: dict[str, tuple[str, RunRecord]] = {}
    for r in runs:
        found = run_settings(r.metrics, r.config, columns)
        if not found:
            raise VireidError(
                f"{r.metrics_file}: fills no column of a {r.metrics['protocol']} table (its directions: "
                f"{', '.join(r.metrics['directions'])}; expected {', '.join(expected_directions(r.metrics, columns))})"
            )
        for st in found:
            direction, first = filled.setdefault(st.key, (st.direction, r))
            if direction != st.direction:
                raise VireidError(
                    f"{r.name} is not comparable with {first.name}: its {st.title} column is computed as "
                    f"{st.direction!r} there but as {direction!r} in {first.name} (their metrics.json's "
                    "'paper_columns'); --columns ours compares the protocol's own directions"
                )
    rows = []
    for members in order.values():
        members_runs = [runs[i] for i in members]
        by_setting: dict[str, tuple[Setting, list[RunRecord]]] = {}
        seen: dict[tuple[str, str], RunRecord] = {}
        for r in members_runs:
            flat = flatten(r.config)
            replicate = json.dumps([flat.get(k) for k in pooled])
            for s in run_settings(r.metrics, r.config, columns):
                other = seen.get((s.key, replicate))
                if other is not None:
                    same = ", ".join(f"{k}={json.dumps(flat.get(k))}" for k in pooled)
                    raise VireidError(
                        f"{r.name} and {other.name} are the same cell ({s.title}, {same}); give one of them, "
                        "or --group-by the key that tells them apart"
                    )
                seen[(s.key, replicate)] = r
                by_setting.setdefault(s.key, (s, []))[1].append(r)
        cells = {k: _cell(s, rs) for k, (s, rs) in sorted(by_setting.items(), key=lambda kv: kv[1][0].order)}
        differs = {k: json.loads(keys[members[0]][k]) for k in varying if k in keys[members[0]]}
        rows.append(Row(row_label([r.name for r in members_runs]), tuple(members_runs), differs, cells))
    return rows, {"group_by": list(pooled), **shared}


def row_label(names: Sequence[str]) -> str:
    """A row's name from its runs' paths: ``runs/demo``; ``runs/regdb_1`` .. ``runs/regdb_10`` ->
    ``runs/regdb_*`` (their common start and end around a ``*``)."""
    names = [n.rstrip("/") for n in names]
    if len(set(names)) == 1:
        return names[0]
    import os

    head = os.path.commonprefix(names)
    tail = os.path.commonprefix([n[len(head) :][::-1] for n in names])[::-1]
    return f"{head}*{tail}"


def short_labels(rows: Sequence[Row]) -> list[str]:
    """Row labels without the folder every row shares (``runs/``)."""
    import os

    labels = [r.label for r in rows]
    common = os.path.commonpath([os.path.dirname(x) or "." for x in labels]) if labels else ""
    if common in ("", "."):
        return labels
    return [x[len(common) :].lstrip("/") or x for x in labels]
