"""Reading what ``vireid report`` reports: a run's metrics, the settings it ran with and its log.

A ``RUN`` argument is a training run folder (its ``metrics.json``: the final full-protocol
evaluation of the best checkpoint), a ``vireid test`` output folder (``RUN/test``), or a
metrics JSON file itself (e.g. the demo's ``metrics_untrained.json``).  The settings come from
the metrics file's own ``config`` (``vireid test`` records the config it evaluated with), else
from ``config.yaml`` next to the file or one folder up (a test folder lies inside its run);
the training log is the ``metrics.jsonl`` beside that ``config.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vireid.errors import VireidError
from vireid.utils.paths import file_problem, found_file

METRICS_FILE, CONFIG_FILE, LOG_FILE = "metrics.json", "config.yaml", "metrics.jsonl"


@dataclass(frozen=True)
class RunRecord:
    """One evaluated run: ``name`` as the user gave it (control characters escaped), its metrics,
    its resolved config (nested dict, every key present) and where both came from."""

    name: str
    metrics_file: Path
    metrics: dict[str, Any]
    config: dict[str, Any]
    config_source: str
    log_file: Path | None


def _read_metrics(path: Path) -> dict[str, Any]:
    from vireid.evaluation.summary_file import read_metrics_json
    from vireid.report.settings import SCORES

    return read_metrics_json(path, scores=[m for m, _ in SCORES])


def _metrics_file(arg: Path) -> Path:
    if arg.is_dir():
        path = arg / METRICS_FILE
        if not found_file(path, METRICS_FILE):
            hint = (
                f"; its test results are in {arg / 'test'}"
                if (arg / "test" / METRICS_FILE).is_file()
                else " (did the run finish? vireid train writes it at the end)"
            )
            raise VireidError(f"{arg}: holds no {METRICS_FILE}{hint}")
        return path
    if arg.is_file():
        return arg
    problem = file_problem(arg, "run folder or metrics JSON file")
    if problem and not problem.endswith("not found"):  # a pipe (a read would wait), a device, a link to nothing
        raise VireidError(f"{arg}: {problem}")
    raise VireidError(f"{arg}: not found; give a run folder or a metrics JSON file")


def load_run(arg: str | os.PathLike) -> RunRecord:
    """The :class:`RunRecord` of a run folder, a test folder or a metrics file."""
    from vireid.config import from_dict, load_config, to_dict

    arg = Path(arg)
    metrics_file = _metrics_file(arg)
    metrics = _read_metrics(metrics_file)
    folder = metrics_file.parent
    config_file = next(
        (p / CONFIG_FILE for p in (folder, folder.parent) if found_file(p / CONFIG_FILE, "config")), None
    )
    if "config" in metrics and not isinstance(metrics["config"], dict):
        raise VireidError(f"{metrics_file}: its 'config' is not a mapping of settings (vireid test records one)")
    if isinstance(metrics.get("config"), dict):
        config = to_dict(from_dict(metrics["config"], source=f"{metrics_file} (its 'config')"))
        source = f"{metrics_file} (config)"
    elif config_file is not None:
        config = to_dict(load_config(config_file))
        source = str(config_file)
    else:
        raise VireidError(
            f"{metrics_file}: no {CONFIG_FILE} next to it or one folder up, and it records no config; "
            "the report needs the settings the run was trained and evaluated with"
        )
    log_dir = config_file.parent if config_file is not None else folder
    log_file = log_dir / LOG_FILE if found_file(log_dir / LOG_FILE, "training log") else None
    from vireid.utils.paths import shown

    return RunRecord(shown(arg), metrics_file, metrics, config, source, log_file)  # a name to print and draw


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"data": {"mode": "all"}}`` -> ``{"data.mode": "all"}`` (lists kept as values)."""
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}
