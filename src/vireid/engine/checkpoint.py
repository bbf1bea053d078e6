"""Checkpoints: safetensors weights + a plain-tensor training state, written atomically.

The layout of a run's ``checkpoints/`` folder is :mod:`vireid.core.checkpoints`.
Every file goes through :func:`vireid.utils.io.atomic_write`.  A pair of files cannot
be replaced atomically, so a new "last" checkpoint is written into a fresh folder and
becomes current only when ``last.json`` is atomically replaced; older folders are
deleted afterwards.  A crash at any moment leaves ``last.json`` pointing at a complete
checkpoint.  ``state.pt`` holds only tensors and plain Python containers and is read
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from vireid.core.checkpoints import BEST, POINTER, STATE, WEIGHTS, last_dir
from vireid.errors import CheckpointError
from vireid.models.weights import load_state_dict_strict, read_weights, save_weights, unwrap_model
from vireid.utils.io import atomic_torch_save, atomic_write_json, safe_torch_load

__all__ = [
    "BEST",
    "POINTER",
    "STATE",
    "WEIGHTS",
    "CheckpointManager",
    "load_weights_into",
    "read_weights",
    "restore_training_state",
    "rng_state",
    "save_weights",
    "set_rng_state",
    "unwrap_model",
]


def load_weights_into(model: nn.Module, tensors: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load into the module inside any DDP / compile wrapper."""
    load_state_dict_strict(unwrap_model(model), tensors, source=source)


# --------------------------------------------------------------------------- RNG states
def rng_state(generators: Mapping[str, torch.Generator] | None = None) -> dict:
    """Python, NumPy, torch (CPU + every CUDA device) and named generator states."""
    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": {"version": version, "state": list(mt), "gauss": gauss},
        "numpy": {
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
    }
    return state


def set_rng_state(state: Mapping, generators: Mapping[str, torch.Generator] | None = None) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for k, g in (generators or {}).items():
        if k in state["generators"]:
            g.set_state(state["generators"][k])


def restore_training_state(trainer: Any, state: Mapping, path: Path) -> None:
    """``trainer.load_state_dict(state)``; a state of another shape than vireid writes (a key
    missing, a value of another type or size) is one :class:`CheckpointError` naming ``path``."""
    from vireid.errors import VireidError

    try:
        trainer.load_state_dict(state)
    except VireidError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise CheckpointError(f"{path}: {exc}") from None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError, OverflowError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise CheckpointError(
            f"{path}: not a training state this run can resume from ({type(exc).__name__}: {text}); "
            "it was not written by this vireid for this config"
        ) from None


def remove_step_dir(d: Path) -> None:
    """Delete a step folder's weights, state and temporary files -- what vireid wrote there --
    and the folder when that empties it; anything else in it is left alone."""
    from vireid.utils.outputs import is_temporary, remove_owned

    if d.is_symlink() or not d.is_dir():
        return
    remove_owned(d, {WEIGHTS, STATE} | {p.name for p in d.iterdir() if is_temporary(p.name)})


# --------------------------------------------------------------------------- manager
class CheckpointManager:
    """Writes/reads the ``last`` (weights + state) and ``best`` (weights) checkpoints of a run."""

    def __init__(self, directory: str | Path, keep: int = 1) -> None:
        self.dir = Path(directory)
        self.keep = max(int(keep), 1)

    # -- last
    def last_dir(self) -> Path | None:
        return last_dir(self.dir)

    def save_last(
        self, model: nn.Module, state: Mapping[str, Any], step: int, metadata: Mapping[str, Any] | None = None
    ) -> Path:
        from vireid.utils.outputs import CHECKPOINT_POINTER, RUN_CHECKPOINT, TRAINING_STATE

        d = self.dir / f"step-{step:08d}"
        if d.exists():  # left by a crash before its pointer was written
            remove_step_dir(d)
        save_weights(model, d / WEIGHTS, {**(metadata or {}), "step": step}, kind=RUN_CHECKPOINT)
        atomic_torch_save(dict(state), d / STATE, kind=TRAINING_STATE)
        atomic_write_json(self.dir / POINTER, {"dir": d.name, "step": step}, kind=CHECKPOINT_POINTER)
        self._prune(keep_name=d.name)
        return d

    def _prune(self, keep_name: str) -> None:
        dirs = sorted(p for p in self.dir.glob("step-*") if p.is_dir() and p.name != keep_name)
        for p in dirs[: max(len(dirs) - (self.keep - 1), 0)]:
            remove_step_dir(p)

    def load_last(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict] | None:
        d = self.last_dir()
        if d is None:
            return None
        tensors, meta = read_weights(d / WEIGHTS)
        state = safe_torch_load(d / STATE)
        if not isinstance(state, dict) or state.get("step") != meta.get("step"):
            raise CheckpointError(f"{d}: weights and training state disagree about the step")
        return tensors, meta, state

    # -- best
    def save_best(self, model: nn.Module, metadata: Mapping[str, Any] | None = None) -> Path:
        from vireid.utils.outputs import RUN_CHECKPOINT

        path = self.dir / BEST
        save_weights(model, path, metadata, kind=RUN_CHECKPOINT)
        return path
