"""Reading any vireid checkpoint into a model plus its test-time configuration.

Sources understood by :func:`read_checkpoint`:

* a run folder, a ``checkpoints/`` folder, ``last.json`` or a step folder (resolved by
  :func:`vireid.core.checkpoints.resolve_checkpoint`: ``best`` first, then ``last``);
* a ``.safetensors`` file in vireid's model format -- the engine's ``model.safetensors`` /
  ``best.safetensors`` (metadata ``architecture``, ``kwargs`` and the run's ``config``) or a
  :meth:`DEEN.save` file (``architecture`` + ``kwargs`` only).  Without a ``config`` in the
  metadata, a ``config.yaml`` next to the file or in the run folder above its ``checkpoints/``
  folder is used when present.  That config's ``imports:`` are imported first (a model from a
  plugin); a model whose plugin is not loaded is one line naming it;
* any other file: an authors' ``*.t`` checkpoint, read with ``torch.load(weights_only=True)``:
  DEEN's if it has ``MFA``/``DEE`` blocks (the variant is inferred from its keys: the RegDB
  variant has no ``MFA3`` block), else AGW's (or their non-local-free ``base``).

The test-time configuration (:class:`InferenceConfig`) comes from the run's config
(``data.height/width``, ``eval.flip/combine``) and falls back, when the checkpoint carries none
(the authors' ``*.t`` files and ``vireid convert`` output), to the model's ``eval_defaults`` -- AGW's
``test.py``: 288 x 144, no flip, BN feature -- or else DEEN's ``test.py``: 384 x 144
(``--img_h 384 --img_w 144``), flip, all embeddings, pool + BN.  A model with a fixed
input size (DEEN-ViT's ``img_size``) always uses its own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from vireid.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from vireid.errors import CheckpointError, ShapeError, VireidError
from vireid.utils.paths import file_problem

DEFAULT_SIZE = (384, 144)  # (H, W) of DEEN/test.py and DEEN/train.py
COMBINES = ("all", "weighted", "pool", "bn")


@dataclass(frozen=True)
class InferenceConfig:
    """Everything that decides a descriptor besides the weights."""

    architecture: str
    kwargs: dict
    input_size: tuple[int, int]  # (H, W)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    flip: bool = True
    combine: str = "all"
    alpha: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"], d["mean"], d["std"] = list(self.input_size), list(self.mean), list(self.std)
        return d

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _config_file(weights: Path) -> Path | None:
    """``config.yaml`` next to the weights or in the run folder above a ``checkpoints/`` folder."""
    folders = [weights.parent] + [p.parent for p in list(weights.parents)[:3] if p.name == "checkpoints"]
    return next((folder / "config.yaml" for folder in folders if (folder / "config.yaml").is_file()), None)


@dataclass
class LoadedCheckpoint:
    model: nn.Module
    architecture: str
    kwargs: dict
    config: dict | None  # the run's config (as a dict) when known
    weights: Path  # the file that was read (hashed for the model identity)


def _read_vireid(weights: Path) -> LoadedCheckpoint:
    from vireid.config import load_config, to_dict
    from vireid.config.loader import config_imports
    from vireid.core import plugins
    from vireid.models.registry import spec_of
    from vireid.models.weights import rebuild_model

    found = _config_file(weights)
    if found is not None:  # the run's own config names the plugins its model needs
        plugins.import_plugins(config_imports(found), source=f"{found}: imports")
    model, meta = rebuild_model(weights)
    config = meta.get("config") if isinstance(meta.get("config"), dict) else None
    if config is None and found is not None:
        config = to_dict(load_config(found))
    return LoadedCheckpoint(model, spec_of(model).architecture, meta["kwargs"], config, weights)


def read_checkpoint(path: str | Path, variant: str | None = None) -> LoadedCheckpoint:
    """The model (eval mode, CPU), its constructor arguments and run config from any checkpoint."""
    p = Path(path).expanduser()
    problem = None if p.is_dir() else file_problem(p, "checkpoint")
    if problem:  # not found, a link to nothing, a pipe (a read would wait), a device
        raise CheckpointError(f"{p}: {problem}")
    if p.is_dir() or p.suffix == ".safetensors" or p.name == "last.json":
        from vireid.core.checkpoints import resolve_checkpoint

        loaded = _read_vireid(resolve_checkpoint(p))
    else:
        from vireid.models.authors import load_authors_checkpoint
        from vireid.models.registry import spec_of

        model = load_authors_checkpoint(p, variant=variant)  # DEEN's option; None: inferred
        loaded = LoadedCheckpoint(model, spec_of(model).architecture, dict(model.config), None, p)
    loaded.model.eval()
    return loaded


def inference_config(
    loaded: LoadedCheckpoint,
    *,
    img_size: tuple[int, int] | None = None,
    flip: bool | None = None,
    combine: str | None = None,
    alpha: float | None = None,
) -> InferenceConfig:
    """Test-time options: explicit arguments, then the run config, then DEEN's defaults."""
    model, config = loaded.model, loaded.config or {}
    data = dict(config.get("data", {}) or {})
    ev = {**getattr(model, "eval_defaults", {}), **dict(config.get("eval", {}) or {})}
    own = getattr(model, "img_size", None)
    if own is not None:
        own = (int(own[0]), int(own[1]))
        if img_size is not None and tuple(img_size) != own:
            raise ShapeError(
                f"this {type(model).__name__} was built for {own[0]}x{own[1]} images; "
                f"cannot embed at {img_size[0]}x{img_size[1]}"
            )
        size = own
    elif img_size is not None:
        size = (int(img_size[0]), int(img_size[1]))
    else:
        default = getattr(model, "test_size", DEFAULT_SIZE)
        size = (int(data.get("height", default[0])), int(data.get("width", default[1])))
    combine = combine if combine is not None else str(ev.get("combine", "all"))
    if combine not in COMBINES:
        raise VireidError(f"unknown combine {combine!r}; expected one of {', '.join(COMBINES)}")
    kwargs = json.loads(json.dumps(dict(loaded.kwargs), sort_keys=True, default=str))
    return InferenceConfig(
        architecture=loaded.architecture,
        kwargs=kwargs,
        input_size=size,
        flip=bool(ev.get("flip", True) if flip is None else flip),
        combine=combine,
        alpha=float(0.1 if alpha is None else alpha),
    )
