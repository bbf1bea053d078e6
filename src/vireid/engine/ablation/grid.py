"""Ablation grids: ``key=v1,v2`` axes, linked axes ``a+b=[x,y],[z,w]``, combinations and their overrides.

Grid values are parsed as YAML; commas inside brackets do not split (``k=[1,2],[3,4]``).
Keys joined by ``+`` form one *linked* axis whose values are YAML lists, one item per key:
``data.height+data.width=[64,32],[96,48]`` varies the input size as one factor.
"""

from __future__ import annotations

import itertools
import json
from typing import Sequence

import yaml

from vireid.errors import ConfigError


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
        if len(values) < 2:
            raise ConfigError(
                f"--grid: {item!r} has one value; an axis needs two or more (v1,v2); a fixed setting goes after --set"
            )
        if key in grid:
            raise ConfigError(f"--grid: {key} is given twice")
        for v in values:
            try:
                parsed = yaml.safe_load(v)
            except yaml.YAMLError as exc:
                from vireid.config.loader import yaml_problem

                raise ConfigError(f"--grid: value {v!r} of {key} is not valid YAML ({yaml_problem(exc)[1]})") from None
            linked = key.split("+")
            if len(linked) > 1 and (not isinstance(parsed, list) or len(parsed) != len(linked)):
                raise ConfigError(
                    f"--grid: {key} links {len(linked)} keys, so each value must be a list "
                    f"of {len(linked)} items; got {v!r}"
                )
        grid[key] = values
    if not grid:
        raise ConfigError("--grid: give at least one key=v1,v2")
    return grid


def combinations(grid: dict[str, list[str]], mode: str = "product") -> list[dict[str, str]]:
    """Override sets to run: the Cartesian product, or each axis alone (``mode="each"``)."""
    if mode == "product":
        keys = list(grid)
        return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(grid[k] for k in keys))]
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
        for k, v in zip(keys, yaml.safe_load(raw), strict=True):
            out.append(f"{k}={json.dumps(v)}")
    return out


def slug(combo: dict[str, str]) -> str:
    text = "_".join(f"{short_key(k)}-{v}" for k, v in combo.items()) or "base"
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:120]


def short_key(key: str) -> str:
    """A key's name in run folders and labels: its last component, and an objective term's key with
    its term (``loss.cpm.weight`` -> ``cpm_weight``)."""

    def one(k: str) -> str:
        parts = k.split(".")
        return f"{parts[1]}_{parts[2]}" if parts[0] == "loss" and len(parts) == 3 else parts[-1]

    return "+".join(one(k) for k in key.split("+"))
