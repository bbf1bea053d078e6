"""Pretrained backbone weights by name: URL, hash, download once into torch.hub's cache.

``model.pretrained: imagenet`` (or any name below) resolves to a file in
``$TORCH_HOME/hub/checkpoints`` (torch.hub's cache; ``TORCH_HOME`` defaults to
``~/.cache/torch``), downloaded on first use into a temporary file in that folder, checked
against the SHA-256 prefix the file name carries (torch.hub's convention), then renamed into
place -- a failed or corrupted download never leaves a file behind.  Without network the
error names the URL, the path to place the file at and the ``model.pretrained=PATH`` override.
``vireid weights list`` / ``vireid weights download NAME`` do the same from the command line
(for clusters whose compute nodes have no internet).

Names (a model accepts the names of its ``pretrained_family``; ``imagenet`` is each family's
default):

* ``resnet50_imagenet_v1`` (``imagenet`` for ResNet-50 models): torchvision's original
  ResNet-50 ImageNet-1k weights, ``resnet50-19c8e357.pth`` -- the file the DEEN and AGW
  authors' ``resnet.py`` (``model_urls['resnet50']``) downloads.
* ``vit_base_patch16_224_in21k_ft_in1k`` (``imagenet`` for ViT-B/16 models): the original
  Google ViT-B/16, ImageNet-21k pretrained and ImageNet-1k fine-tuned, as timm released it
  (``jx_vit_base_p16_224-80ecf9dd.pth``) -- the file TransReID (He et al., ICCV 2021) and the
  VI-ReID ViT methods built on it (e.g. PMT, AAAI 2023) start from.
* ``vit_base_patch16_224_in21k``: the same ViT-B/16 after ImageNet-21k pretraining only
  (``jx_vit_base_patch16_224_in21k-e5005f0a.pth``); its ``pre_logits`` layer and 21k head are
  not used by re-ID models and are ignored when loading.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from vireid.errors import CheckpointError
from vireid.utils.paths import file_problem
from vireid.utils.progress import progress_bar

DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PretrainedWeights:
    name: str
    family: str  # "resnet50" | "vit_base_patch16"
    url: str
    hash_prefix: str  # leading hex digits of the file's SHA-256 (torch.hub convention)
    description: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_WEIGHTS: dict[str, PretrainedWeights] = {}
DEFAULTS: dict[str, str] = {}  # family -> name that "imagenet" means


def register_weights(w: PretrainedWeights, default: bool = False) -> PretrainedWeights:
    """Add named weights (``default``: what ``imagenet`` means for their family)."""
    _WEIGHTS[w.name] = w
    if default:
        DEFAULTS[w.family] = w.name
    return w


register_weights(
    PretrainedWeights(
        "resnet50_imagenet_v1",
        "resnet50",
        "https://download.pytorch.org/models/resnet50-19c8e357.pth",
        "19c8e357",
        "torchvision ResNet-50 V1, ImageNet-1k (the DEEN/AGW authors' file)",
    ),
    default=True,
)
register_weights(
    PretrainedWeights(
        "vit_base_patch16_224_in21k_ft_in1k",
        "vit_base_patch16",
        "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-vitjx/"
        "jx_vit_base_p16_224-80ecf9dd.pth",
        "80ecf9dd",
        "ViT-B/16, ImageNet-21k + 1k fine-tuning, timm's release (TransReID's file)",
    ),
    default=True,
)
register_weights(
    PretrainedWeights(
        "vit_base_patch16_224_in21k",
        "vit_base_patch16",
        "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-vitjx/"
        "jx_vit_base_patch16_224_in21k-e5005f0a.pth",
        "e5005f0a",
        "ViT-B/16, ImageNet-21k only, timm's release",
    )
)


def weights_names(family: str | None = None) -> list[str]:
    return [n for n, w in _WEIGHTS.items() if family is None or w.family == family]


def get_weights(name: str, family: str | None = None) -> PretrainedWeights:
    """The entry for ``name`` (``imagenet`` means the family's default)."""
    if name == "imagenet" and family is not None:
        name = DEFAULTS.get(family, name)
    w = _WEIGHTS.get(name)
    if w is None or (family is not None and w.family != family):
        names = weights_names(family)
        raise CheckpointError(
            f"unknown pretrained weights {name!r}"
            + (f" for a {family} model" if family else "")
            + f"; expected a file path or one of: {', '.join(['imagenet'] * bool(family) + names)}"
        )
    return w


def cache_dir() -> Path:
    """torch.hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints``)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_path(w: PretrainedWeights) -> Path:
    return cache_dir() / w.filename


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def download(w: PretrainedWeights, *, progress: bool = False) -> Path:
    """Download ``w`` into the cache (temporary file, hash check, rename); returns the path."""
    dst = cached_path(w)
    if dst.exists() and not dst.is_file():
        raise CheckpointError(f"{dst}: exists and is not a file; move it away so that {w.name!r} can be stored there")
    made = _missing_folders(dst.parent)  # removed again (when still empty) if the download fails
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.partial")
    hint = (
        f"place the file at {dst} or pass model.pretrained=PATH "
        f"(vireid weights download {w.name} fetches it on a machine with internet)"
    )
    try:
        req = urllib.request.Request(w.url, headers={"User-Agent": "vireid"})
        h = hashlib.sha256()
        with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT_S) as src, open(tmp, "wb") as out:
            total = int(src.headers.get("Content-Length") or 0) or None
            bar = progress_bar(progress, total=total, unit="B", unit_scale=True, desc=w.filename)
            while block := src.read(1 << 20):
                out.write(block)
                h.update(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
        if not h.hexdigest().startswith(w.hash_prefix):
            raise CheckpointError(
                f"{w.url}: downloaded file has SHA-256 {h.hexdigest()[:16]}..., expected {w.hash_prefix}...; {hint}"
            )
        os.replace(tmp, dst)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CheckpointError(
            f"cannot download pretrained weights {w.name!r} from {w.url} ({reason}); {hint}"
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()
        if not dst.is_file():
            _remove_empty(made)
    return dst


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    out = []
    for p in (folder, *folder.parents):
        if p.exists():
            break
        out.append(p)
    return out


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed download created (deepest first), each only if it is empty."""
    for p in folders:
        try:
            p.rmdir()
        except OSError:  # not empty (someone else wrote there) or already gone: leave it
            break


def resolve(name_or_path: str | os.PathLike, family: str | None = None, *, download_missing: bool = True) -> Path:
    """A local file for ``name_or_path``: an existing path as is, a name through the cache."""
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    problem = file_problem(path, "pretrained weights file")
    if problem is None:
        return path
    if any(sep in text for sep in ("/", os.sep)) or path.suffix in (".pth", ".pt", ".bin", ".safetensors", ".t"):
        raise CheckpointError(f"{path}: {problem}")
    w = get_weights(text, family)
    dst = cached_path(w)
    if dst.exists() and not dst.is_file():
        raise CheckpointError(f"{dst}: exists and is not a file; move it away so that {w.name!r} can be stored there")
    if dst.is_file():
        if not sha256_of(dst).startswith(w.hash_prefix):
            raise CheckpointError(
                f"{dst}: cached file does not match the SHA-256 prefix {w.hash_prefix} of "
                f"{w.name!r}; delete it to download again, or pass model.pretrained=PATH"
            )
        return dst
    if not download_missing:
        raise CheckpointError(f"pretrained weights {w.name!r} are not in the cache ({dst})")
    return download(w)
