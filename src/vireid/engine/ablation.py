"""Ablation runner: train and test every combination of a grid on the synthetic benchmark.

``vireid ablate --config BASE --grid key=v1,v2 key2=a,b --seeds 0 1 2 --out DIR`` runs the
Cartesian product of the grid (``--mode product``, default) or each axis on its own against
the base config (``--mode each``: one-factor-at-a-time, what a design-choice table needs),
each with several seeds, and writes into ``DIR``:

* ``runs/<combo>/seed<k>/``: the ordinary run folders (config, checkpoints, metrics);
* ``results.json``: every run's metrics, train time and parameter count;
* ``ablation.md``: a markdown table, mean ± std over seeds of Rank-1, mAP, mINP, plus
  train time and parameters;
* ``ablation.png``: Rank-1 and mAP per combination with std error bars ([viz] extra).

Grid values are parsed as YAML; commas inside brackets do not split (``k=[1,2],[3,4]``).
Keys joined by ``+`` form one *linked* axis whose values are YAML lists, one item per key:
``data.height+data.width=[64,32],[96,48]`` varies the input size as one factor.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from vireid.config import Config, apply_overrides
from vireid.errors import ConfigError
from vireid.utils.io import atomic_write_json, atomic_write_text

METRICS = ("rank1", "mAP", "mINP")


def split_values(raw: str) -> list[str]:
    """Split ``a,b,[c,d]`` on top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in raw:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    values = [v.strip() for v in out]
    if depth != 0 or any(not v for v in values):
        raise ConfigError(f"--grid: cannot split values {raw!r} (empty value or unbalanced brackets)")
    return values


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--grid: {item!r} is not of the form section.key=v1,v2")
        key = key.strip()
        values = split_values(raw)
        for v in values:
            try:
                parsed = yaml.safe_load(v)
            except yaml.YAMLError as exc:
                raise ConfigError(f"--grid: value {v!r} of {key} is not valid YAML ({exc})") from None
            linked = key.split("+")
            if len(linked) > 1 and (not isinstance(parsed, list) or len(parsed) != len(linked)):
                raise ConfigError(f"--grid: {key} links {len(linked)} keys, so each value must be a list "
                                  f"of {len(linked)} items; got {v!r}")
        grid[key] = values
    if not grid:
        raise ConfigError("--grid: give at least one key=v1,v2")
    return grid


def combinations(grid: dict[str, list[str]], mode: str = "product") -> list[dict[str, str]]:
    """Override sets to run: the Cartesian product, or each axis alone (``mode="each"``)."""
    if mode == "product":
        keys = list(grid)
        return [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]
    if mode == "each":
        return [{k: v} for k, values in grid.items() for v in values]
    raise ConfigError(f"--mode: unknown {mode!r}; expected product or each")


def overrides(combo: dict[str, str]) -> list[str]:
    """``key=value`` overrides of a combination; a linked axis ``a+b=[x,y]`` gives ``a=x``, ``b=y``."""
    out = []
    for key, raw in combo.items():
        keys = key.split("+")
        if len(keys) == 1:
            out.append(f"{key}={raw}")
            continue
        for k, v in zip(keys, yaml.safe_load(raw)):
            out.append(f"{k}={json.dumps(v)}")
    return out


def slug(combo: dict[str, str]) -> str:
    text = "_".join(f"{_short(k)}-{v}" for k, v in combo.items()) or "base"
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:120]


def _short(key: str) -> str:
    return "+".join(k.split(".")[-1] for k in key.split("+"))


@dataclass(frozen=True)
class RunResult:
    combo: dict[str, str]
    seed: int
    metrics: dict[str, float]
    train_seconds: float
    params: int


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def summarize(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per combination: mean/std of each metric over seeds, train time, params."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        key = json.dumps(r.combo, sort_keys=True)
        row = rows.setdefault(key, {"combo": r.combo, "runs": []})
        row["runs"].append(r)
    out = []
    for row in rows.values():
        runs = row["runs"]
        entry: dict[str, Any] = {"combo": row["combo"], "seeds": [r.seed for r in runs]}
        for m in METRICS:
            entry[m] = mean_std([r.metrics[m] for r in runs])
        entry["train_seconds"] = mean_std([r.train_seconds for r in runs])
        entry["params"] = runs[0].params
        out.append(entry)
    return out


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    keys = sorted({k for r in rows for k in r["combo"]})
    head = "| " + " | ".join(keys + ["Rank-1 (%)", "mAP (%)", "mINP (%)", "train (s)", "params (M)", "seeds"]) + " |"
    lines = [head, "|" + "---|" * (len(keys) + 6)]
    for r in rows:
        cells = [str(r["combo"].get(k, "(base)")) for k in keys]
        cells += [f"{100 * r[m][0]:.1f} ± {100 * r[m][1]:.1f}" for m in METRICS]
        cells += [f"{r['train_seconds'][0]:.0f}", f"{r['params'] / 1e6:.2f}", str(len(r["seeds"]))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], out: Path) -> Path:
    from vireid.viz._mpl import pyplot, save_figure

    plt = pyplot()
    labels = [", ".join(f"{_short(k)}={v}" for k, v in r["combo"].items()) or "base" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows) + 2), 4))
    x = list(range(len(rows)))
    width = 0.4
    for off, m, colour in ((-width / 2, "rank1", "tab:blue"), (width / 2, "mAP", "tab:orange")):
        ax.bar([i + off for i in x], [100 * r[m][0] for r in rows], width, yerr=[100 * r[m][1] for r in rows],
               label=m, color=colour, capsize=3)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("%")
    ax.legend()
    ax.set_title("ablation (mean ± std over seeds)", fontsize=9)
    return save_figure(fig, out)


def _train_one(train_fn: Callable[..., Any], cfg: Config, run_dir: Path, threads: int | None
               ) -> tuple[dict[str, float], float, int]:
    """Train and test one run; (mean metrics, train seconds, parameters).  Picklable for workers.

    ``train_fn(cfg, run_dir, quiet=True)`` returns a :class:`vireid.engine.run.TrainResult`."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    result = train_fn(cfg, run_dir, quiet=True)
    summary = result.summary
    params = sum(p.numel() for p in result.model.parameters())
    mean = summary["mean"]
    return ({m: float(mean[m]) for m in METRICS},
            float(summary.get("train_seconds", time.perf_counter() - t0)), params)


def _config_key(cfg: Config) -> str:
    return json.dumps(asdict(cfg), sort_keys=True, default=str)


def run_ablation(base: Config, grid: dict[str, list[str]], out: str | Path, *, seeds: Sequence[int] = (0, 1),
                 mode: str = "product", train_fn: Callable[..., Any] | None = None, jobs: int = 1,
                 log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train and test every combination x seed; write results.json, ablation.md and ablation.png.

    A combination whose resolved config equals an earlier one (in ``each`` mode, the base
    value of every axis) is trained once and its results reused.  ``jobs > 1`` trains that
    many runs at once in worker processes (one compute thread each; ``train_fn`` must then
    be a module-level function).
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    real_training = train_fn is None
    if train_fn is None:
        from vireid.engine.run import train as train_fn
    out = Path(out)
    combos = combinations(grid, mode)
    configs = [(c, s, apply_overrides(base, overrides(c) + [f"train.seed={s}"]))
               for c in combos for s in seeds]  # validate every override before training anything
    first_of: dict[str, int] = {}
    source = []  # index of the run whose results each config reuses (itself when first)
    for i, (combo, seed, cfg) in enumerate(configs):
        source.append(first_of.setdefault(_config_key(cfg), i))
    todo = sorted(set(source))
    done: dict[int, tuple[dict[str, float], float, int]] = {}

    def record() -> list[RunResult]:
        results = []
        for (combo, seed, _), src in zip(configs, source):
            got = done.get(src)
            if got is not None:
                results.append(RunResult(combo, seed, *got))
        atomic_write_json(out / "results.json", [r.__dict__ for r in results])
        return results

    def run_dir(i: int) -> Path:
        combo, seed, _ = configs[i]
        return out / "runs" / slug(combo) / f"seed{seed}"

    if real_training and jobs > 1:  # parallel runs must not generate the same synthetic dataset at once
        from vireid.config.build import build_dataset

        for data in {json.dumps(asdict(configs[i][2].data), sort_keys=True, default=str): configs[i][2].data
                     for i in todo}.values():
            if data.synth:
                build_dataset(data)

    def announce(n: int, i: int) -> None:
        log(f"[{n}/{len(todo)}] {configs[i][0] or 'base'} seed {configs[i][1]} -> {run_dir(i)}")

    if jobs == 1:
        for n, i in enumerate(todo, start=1):
            announce(n, i)
            done[i] = _train_one(train_fn, configs[i][2], run_dir(i), None)
            record()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {}
            for n, i in enumerate(todo, start=1):
                announce(n, i)
                futures[pool.submit(_train_one, train_fn, configs[i][2], run_dir(i), 1)] = i
            for fut in as_completed(futures):
                done[futures[fut]] = fut.result()
                log(f"done: {run_dir(futures[fut])}")
                record()
    results = record()
    rows = summarize(results)
    atomic_write_text(out / "ablation.md", markdown_table(rows) + "\n")
    try:
        plot(rows, out / "ablation.png")
    except ConfigError:
        raise
    except Exception as exc:  # matplotlib missing: the table still stands
        log(f"no plot: {exc}")
    return rows
