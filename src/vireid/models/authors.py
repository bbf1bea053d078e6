"""The authors' own checkpoints (``*.t`` files of ZYK100/LLCM's DEEN and AGW ``train.py``), recognised by
their keys and loaded into vireid's models (:mod:`vireid.models.official`, :mod:`vireid.models.official_agw`)."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from vireid.errors import CheckpointError


def official_keys(path: str | os.PathLike) -> list[str]:
    """The state-dict keys of an authors' ``*.t`` checkpoint (``module.`` prefix stripped)."""
    from vireid.models.official import is_safetensors
    from vireid.utils.io import safe_torch_load

    if is_safetensors(path):
        raise CheckpointError(
            f"{path}: is a safetensors file, not an authors' DEEN/AGW checkpoint (a .t file "
            "written by their train.py); vireid's own checkpoints need no conversion"
        )
    obj = safe_torch_load(path, allow_numpy=True)
    state = obj.get("net", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(
            f"{path}: not a vireid checkpoint nor an authors' DEEN/AGW checkpoint ({{'net': state_dict, ...}})"
        )
    return [k[len("module.") :] if k.startswith("module.") else k for k in state]


def infer_official_variant(keys: list[str]) -> str:
    """DEEN: ``"default"`` if the checkpoint has an MFA3 block, else ``"regdb"``."""
    return "default" if any(k.startswith("MFA3.") for k in keys) else "regdb"


def infer_official_architecture(keys: list[str]) -> str:
    """``"deen"`` if the checkpoint has MFA/DEE blocks, else ``"agw"``."""
    from vireid.models.official_agw import DEEN_PREFIXES

    return "deen" if any(k.startswith(DEEN_PREFIXES) for k in keys) else "agw"


def load_authors_checkpoint(
    path: str | os.PathLike,
    *,
    arch: str = "auto",
    variant: str | None = None,
    gem: bool | None = None,
    num_classes: int | None = None,
) -> nn.Module:
    """An authors' DEEN or AGW checkpoint as our model (eval mode); ``arch``/``variant`` inferred by default."""
    path = Path(path)
    keys = official_keys(path)
    arch = infer_official_architecture(keys) if arch == "auto" else arch
    if arch == "agw":
        from vireid.models.official_agw import load_official_agw

        if variant is not None:
            raise CheckpointError(f"{path}: variant is a DEEN option; an AGW checkpoint has none")
        return load_official_agw(path, num_classes=num_classes, gem=gem)
    if arch != "deen":
        raise CheckpointError(f"unknown authors' architecture {arch!r}; expected auto, deen or agw")
    if gem is not None:
        raise CheckpointError(f"{path}: gem is an AGW option; a DEEN checkpoint has none")
    from vireid.models.official import load_official_deen

    return load_official_deen(path, variant=variant or infer_official_variant(keys), num_classes=num_classes)


def convert_authors_checkpoint(path: str | os.PathLike, out: str | os.PathLike, **kwargs) -> nn.Module:
    """``vireid convert``: an authors' checkpoint at ``path`` (:func:`load_authors_checkpoint` options)
    written in vireid's format at ``out``, which may not be the input."""
    from vireid.utils.outputs import CHECKPOINT, check_file, reading

    inputs = {"authors' checkpoint (--official)": path}
    check_file(out, CHECKPOINT, inputs=inputs)  # before any work
    model = load_authors_checkpoint(path, **kwargs)
    with reading(inputs):
        model.save(out)
    return model
