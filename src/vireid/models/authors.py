"""The authors' own checkpoints (``*.t`` files of ZYK100/LLCM's DEEN and AGW ``train.py``): each
format registers with its model (:mod:`vireid.models.official` for DEEN, :mod:`~vireid.models.official_agw`
for AGW), says whether a file's keys are its own, and loads the file into the model.

``vireid convert`` and every command that takes a checkpoint read a ``*.t`` file through
:func:`load_authors_checkpoint`: the file is read once (``torch.load(weights_only=True)``,
:func:`read_authors_file`), the format is recognised from its keys (or named), and the options
given (DEEN's ``variant``, AGW's ``gem``) are checked against that format's loader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from vireid.core.params import declared_params
from vireid.core.registry import registry
from vireid.errors import CheckpointError

AUTHORS_PREFIXES = ("visible_module.", "thermal_module.", "base_resnet.")


@dataclass(frozen=True)
class AuthorsFormat:
    """An authors' checkpoint format: ``title`` (as in messages), ``recognise(keys)`` and
    ``load(state, info, path, **options)`` -> the model in eval mode; the loader's keyword options
    (after ``path``) are what ``vireid convert`` may pass."""

    title: str
    recognise: Callable[[list[str]], bool]
    load: Callable[..., nn.Module]

    def options(self) -> list[str]:
        return declared_params(self.load, skip=("state", "info", "path")).names()


#: authors' checkpoint formats by the registry name of the model they load into
AUTHORS = registry("authors' checkpoint format")


def register_authors_format(model: str, fmt: AuthorsFormat) -> AuthorsFormat:
    """Register ``fmt`` for the model registered as ``model`` (formats are tried in order)."""
    AUTHORS.add(model, fmt)
    return fmt


def read_authors_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state dict with the DataParallel prefix stripped, the file's other entries)`` of an
    authors' ``*.t`` file (``{'net': state_dict, 'cmc': ..., 'epoch': ...}`` or a bare state dict)."""
    from vireid.models.weights import is_safetensors, strip_module_prefix
    from vireid.utils.io import safe_torch_load
    from vireid.utils.paths import file_problem

    problem = file_problem(path, "checkpoint file")
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    if is_safetensors(path):
        raise CheckpointError(
            f"{path}: is a safetensors file, not an authors' DEEN/AGW checkpoint (a .t file "
            "written by their train.py); vireid's own checkpoints need no conversion"
        )
    obj = safe_torch_load(path, allow_numpy=True)
    info: dict[str, Any] = {}
    if isinstance(obj, dict) and isinstance(obj.get("net"), dict):
        info = {k: v for k, v in obj.items() if k != "net"}
        obj = obj["net"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path}: not a vireid checkpoint nor an authors' DEEN/AGW checkpoint "
            "({'net': state_dict, ...} or a bare state dict)"
        )
    state = strip_module_prefix(obj, source=str(path))
    if not any(k.startswith(AUTHORS_PREFIXES) for k in state):
        if any(k.startswith(("stem_visible.", "backbone.", "dee.")) for k in state):
            raise CheckpointError(
                f"{path}: holds vireid's parameter names, not an authors' DEEN/AGW checkpoint; "
                "a vireid model needs no conversion (load it with from_checkpoint or vireid.load_model)"
            )
        raise CheckpointError(
            f"{path}: not an authors' DEEN/AGW checkpoint (none of its keys start with {', '.join(AUTHORS_PREFIXES)})"
        )
    return state, info


def _check_options(path: Path, arch: str, fmt: AuthorsFormat, options: Mapping[str, Any]) -> None:
    allowed = fmt.options()
    for opt in options:
        if opt in allowed:
            continue
        owners = [AUTHORS.get(n).title for n in AUTHORS.names() if opt in AUTHORS.get(n).options()]
        article = "an" if fmt.title[:1] in "AEIOU" else "a"
        owner = f"a {owners[0]} option" if owners else "not an option of any authors' format"
        raise CheckpointError(f"{path}: {opt} is {owner}; {article} {fmt.title} checkpoint has none")


def load_authors_checkpoint(path: str | os.PathLike, *, arch: str = "auto", **options: Any) -> nn.Module:
    """An authors' checkpoint as our model (eval mode): the format recognised from the keys (``arch``
    ``"auto"``) or the one registered for model ``arch``; ``options`` (``None`` values left out) go
    to its loader (DEEN: ``variant``, ``num_classes``; AGW: ``gem``, ``num_classes``)."""
    path = Path(path)
    state, info = read_authors_file(path)
    options = {k: v for k, v in options.items() if v is not None}
    if arch == "auto":
        keys = list(state)
        found = next((n for n in AUTHORS.names() if AUTHORS.get(n).recognise(keys)), None)
        if found is None:
            raise CheckpointError(f"{path}: its keys match none of the authors' formats ({', '.join(AUTHORS.names())})")
        arch = found
    elif arch not in AUTHORS:
        raise CheckpointError(f"unknown authors' architecture {arch!r}; expected auto, {', '.join(AUTHORS.names())}")
    fmt = AUTHORS.get(arch)
    _check_options(path, arch, fmt, options)
    return fmt.load(state, info, path, **options)


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
