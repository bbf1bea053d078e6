"""Where a training run keeps its checkpoints, and which file a checkpoint path means.

Layout of a run's ``checkpoints/`` folder (written by :class:`vireid.engine.checkpoint.CheckpointManager`)::

    step-00001200/model.safetensors   weights; metadata: config, model name/kwargs, step
    step-00001200/state.pt            optimizer, scheduler, sampler, RNG states, counters
    last.json                         {"dir": "step-00001200", "step": 1200}
    best.safetensors                  weights of the best evaluation (+ its metrics)

:func:`resolve_checkpoint` is the one answer to "which weights does this path mean", for every
command that takes a run folder, a checkpoint folder or a file.
"""

from __future__ import annotations

import re
from pathlib import Path

from vireid.errors import CheckpointError, JSONError
from vireid.utils.jsonio import json_loads

WEIGHTS, STATE, POINTER, BEST = "model.safetensors", "state.pt", "last.json", "best.safetensors"


def last_dir(folder: str | Path) -> Path | None:
    """The step folder ``folder/last.json`` points at (``None`` without a pointer); an unreadable
    pointer or an incomplete step folder is a :class:`CheckpointError`."""
    pointer = Path(folder) / POINTER
    if not pointer.is_file():
        return None
    expected = 'the checkpoint pointer vireid writes, {"dir": "step-NNNNNNNN", "step": N}'
    try:
        raw = pointer.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{pointer}: cannot be read ({exc.strerror or exc}); expected {expected}") from None
    try:
        doc = json_loads(raw, str(pointer), expected=expected)
    except JSONError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(doc, dict) or "dir" not in doc:
        kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
        got = "an object without 'dir'" if isinstance(doc, dict) else kinds.get(type(doc), "null")
        raise CheckpointError(f"{pointer}: not a vireid checkpoint pointer ({got}); expected {expected}")
    name = doc["dir"]
    if not isinstance(name, str) or not re.fullmatch(r"step-\d{8}", name):
        raise CheckpointError(f"{pointer}: 'dir' must name a step folder (step-NNNNNNNN), got {name!r}")
    d = Path(folder) / name
    if not (d / WEIGHTS).is_file() or not (d / STATE).is_file():
        raise CheckpointError(f"{pointer}: points at {d}, which is incomplete")
    return d


def resolve_checkpoint(path: str | Path) -> Path:
    """A weights file from a path to a ``.safetensors`` file, a step folder, a ``checkpoints/``
    folder (its ``best`` then ``last``), a run folder, or ``last.json``."""
    from vireid.utils.paths import found_file

    p = Path(path)
    if not p.is_dir() and found_file(p, "checkpoint") and p.suffix == ".safetensors":
        return p
    if p.is_file() and p.name == POINTER:
        d = last_dir(p.parent)
        if d is not None:
            return d / WEIGHTS
    if p.is_dir():
        for cand in (p / WEIGHTS, p / BEST, p / "checkpoints" / BEST):
            if found_file(cand, "checkpoint"):
                return cand
        for root in (p, p / "checkpoints"):
            last = last_dir(root)
            if last is not None:
                return last / WEIGHTS
    raise CheckpointError(
        f"{p}: no checkpoint found (expected a .safetensors file, a checkpoint folder or a run folder)"
    )


def run_folder(checkpoint: str | Path) -> Path:
    """The run folder of a checkpoint (the folder above its ``checkpoints/``), else its folder."""
    p = Path(checkpoint)
    folder = p if p.is_dir() else p.parent
    for q in (folder, *folder.parents):
        if q.name == "checkpoints":
            return q.parent
    return folder
