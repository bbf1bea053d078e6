"""Ablation grids: ``key=v1,v2`` axes, linked axes ``a+b=[x,y],[z,w]``, combinations and their overrides.

Grid values are parsed as YAML; commas inside brackets do not split (``k=[1,2],[3,4]``).
Keys joined by ``+`` form one *linked* axis whose values are YAML lists, one item per key:
``data.height+data.width=[64,32],[96,48]`` varies the input size as one factor.

Labels are declared in the grid itself: ``VALUE:LABEL`` names a value for the report
(``model.args.expansion=dee:DEE,tmhee:T-MHEE``) and ``KEY:TITLE=...`` names an axis, i.e. the
design question it answers (``model.args.stage4_depth:Is one stage-4 block enough?=1,2,3``).
A label starts at a value's first colon outside brackets and quotes that is not followed by a
space (so a YAML mapping ``{a: 1}`` or ``a: 1`` is no label); a value holding such a colon of its
own is quoted (``'"a:b"'``).  Labels change no setting and no run folder: :func:`split_grid`
separates them before anything runs.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

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


def split_label(text: str) -> tuple[str, str | None]:
    """``[tmhee,0]:T-MHEE`` -> ``("[tmhee,0]", "T-MHEE")``; ``0.1`` -> ``("0.1", None)`` (module docstring)."""
    depth, quote = 0, None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == ":" and depth == 0 and i + 1 < len(text) and not text[i + 1].isspace():
            value, label = text[:i].strip(), text[i + 1 :].strip()
            if not value:
                raise ConfigError(f"--grid: {text!r} has a label but no value (VALUE:LABEL)")
            return value, label
    return text.strip(), None


def split_title(key: str) -> tuple[str, str | None]:
    """``model.args.stage4_depth:Is one block enough?`` -> the config key and the axis title."""
    key, sep, title = key.partition(":")
    return key.strip(), (title.strip() or None) if sep else None


@dataclass(frozen=True)
class GridLabels:
    """The names a grid declares: axis key -> title, and axis key -> value -> label."""

    titles: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def title(self, key: str) -> str:
        return self.titles.get(key) or short_key(key)

    def label(self, key: str, value: str) -> str:
        return self.values.get(key, {}).get(value) or f"{short_key(key)}={value}"

    def cell(self, combo: Mapping[str, str]) -> str:
        """A cell's name: its values' labels (``key=value`` where a value has none), or ``base``."""
        return ", ".join(self.label(k, v) for k, v in combo.items()) or "base"


def split_grid(grid: Mapping[str, Sequence[str]]) -> tuple[dict[str, list[str]], GridLabels]:
    """The grid without its labels (keys and values as the config takes them) and the labels."""
    clean: dict[str, list[str]] = {}
    labels = GridLabels()
    for raw_key, raw_values in grid.items():
        key, title = split_title(raw_key)
        if key in clean:
            raise ConfigError(f"--grid: {key} is given twice")
        if title:
            labels.titles[key] = title
        values = []
        for raw in raw_values:
            value, label = split_label(raw)
            if value in values:
                raise ConfigError(f"--grid: {key} lists the value {value} twice")
            if label:
                if label in labels.values.get(key, {}).values():
                    raise ConfigError(f"--grid: {key} gives the label {label!r} to two values")
                labels.values.setdefault(key, {})[value] = label
            values.append(value)
        clean[key] = values
    return clean, labels


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``--grid`` items as ``{key: [value, ...]}``, labels kept (:func:`split_grid` separates them)."""
    grid: dict[str, list[str]] = {}
    for item in items:
        raw_key, sep, raw = item.partition("=")
        key = split_title(raw_key)[0]
        if not sep or not key:
            raise ConfigError(f"--grid: {item!r} is not of the form section.key=v1,v2")
        values = [split_label(v)[0] for v in split_values(raw)]
        if len(values) < 2:
            raise ConfigError(
                f"--grid: {item!r} has one value; an axis needs two or more (v1,v2); a fixed setting goes after --set"
            )
        if any(split_title(k)[0] == key for k in grid):
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
        grid[raw_key.strip()] = split_values(raw)
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
    for labelled_key, labelled in combo.items():
        key, raw = split_title(labelled_key)[0], split_label(labelled)[0]
        keys = key.split("+")
        if len(keys) == 1:
            out.append(f"{key}={raw}")
            continue
        for k, v in zip(keys, yaml.safe_load(raw), strict=True):
            out.append(f"{k}={json.dumps(v)}")
    return out


def slug(combo: dict[str, str]) -> str:
    text = "_".join(f"{short_key(split_title(k)[0])}-{split_label(v)[0]}" for k, v in combo.items()) or "base"
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:120]


def short_key(key: str) -> str:
    """A key's name in run folders and labels: its last component, and an objective term's key with
    its term (``loss.cpm.weight`` -> ``cpm_weight``)."""

    def one(k: str) -> str:
        parts = k.split(".")
        return f"{parts[1]}_{parts[2]}" if parts[0] == "loss" and len(parts) == 3 else parts[-1]

    return "+".join(one(k) for k in key.split("+"))
