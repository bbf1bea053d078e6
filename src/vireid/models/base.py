"""The model contract shared by every vireid re-ID model (DEEN, DEEN-ViT, ...).

Like timm, a model exposes ``forward_features`` and ``forward_head``; what
``forward`` returns is fixed by the model's mode, never by a loss name:

* training: :class:`TrainOutput` -- pooled features, logits, the label-free
  auxiliary losses the architecture defines (e.g. DEEN's orthogonal loss,
  ``"ort"``), and typed fields for what losses computed *outside* ``forward``
  need (e.g. ``of_features`` for the SVDO O.F. penalty).
* eval: :class:`EvalOutput` -- L2-normalised pooled and BN features for all
  ``num_embeddings`` embeddings, stacked along the batch exactly as DEEN's code
  does (shape ``(E * N, dim)``, embedding-major).

Inputs: ``model(x_vis, x_ir, modal)`` with ``modal`` 0 (both: visible batch then
infrared batch), 1 (visible only) or 2 (infrared only).  The same codes label single
samples everywhere (``TrainOutput.modality``, the expansion modules): 1 visible, 2 infrared.
Losses are never computed in ``forward`` except the label-free ones the paper puts there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid.core.checks import check_kwargs
from vireid.core.params import declared_params
from vireid.errors import CheckpointError, ConfigError, ShapeError
from vireid.modality import (  # noqa: F401
    MODAL_BOTH,
    MODAL_INFRARED,
    MODAL_VISIBLE,
    MODALITY_ALIASES,
    modality_to_modal,  # re-exported
)

Modality = Literal["visible", "infrared"]


class TrainOutput(NamedTuple):
    """What a model hands the objective in training (every field a tensor or ``None``)."""

    feat: Tensor  # (E * M, D) pooled features, embedding-major
    logits: Tensor  # (E * M, num_classes)
    aux_losses: dict[str, Tensor]  # unweighted label-free losses the architecture defines
    of_features: Tensor | None = None  # features for ABD-Net's SVDO O.F. penalty
    branch_embeddings: Tensor | None = None  # (K, M, C) pooled generated embeddings (SS-DEC's InfoNCE)
    modality: Tensor | None = None  # (M,) MODAL_VISIBLE / MODAL_INFRARED of each input sample
    feature_map: Tensor | None = None  # the last stage's feature map (before pooling)


class EvalOutput(NamedTuple):
    feat: Tensor  # (E * M, D) L2-normalised pooled features
    feat_bn: Tensor  # (E * M, D) L2-normalised BNNeck features


def bnneck(dim: int) -> nn.BatchNorm1d:
    """DEEN's bottleneck (the BNNeck of DEEN/AGW ``model.py``): BatchNorm1d, weight ~ N(1, 0.01), bias 0
    and frozen (no shift)."""
    bn = nn.BatchNorm1d(dim)
    nn.init.normal_(bn.weight, 1.0, 0.01)
    nn.init.zeros_(bn.bias)
    bn.bias.requires_grad_(False)
    return bn


def declared_config(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """A model's constructor arguments (its ``locals()``) checked against the types and rules declared
    beside them (:mod:`vireid.core.params`) and returned as plain JSON values: the ``config`` it saves
    with its weights, from which :func:`vireid.models.registry.create_model` rebuilds it."""
    params = declared_params(cls)
    checked = check_kwargs(params, {k: values[k] for k in params.names() if k in values}, cls.__name__)
    return json.loads(json.dumps(checked, default=list))


def check_images(x: Tensor, name: str, min_hw: tuple[int, int] = (1, 1)) -> None:
    """Raise a clear :class:`ShapeError` unless ``x`` is (B, 3, H, W) with H, W >= min_hw."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{name}: expected images of shape (B, 3, H, W), got {shape}")
    if x.shape[2] < min_hw[0] or x.shape[3] < min_hw[1]:
        raise ShapeError(
            f"{name}: image size {tuple(x.shape[2:])} is too small; expected at least "
            f"{min_hw[0]}x{min_hw[1]} (H x W) for this model's strides"
        )


def check_modal_inputs(
    x_vis: Tensor | None, x_ir: Tensor | None, modal: int, min_hw: tuple[int, int] = (16, 16)
) -> Tensor:
    """Validate a two-stream model's inputs for ``modal`` (0 both, 1 visible, 2 infrared);
    returns the first image batch used."""
    if modal not in (MODAL_BOTH, MODAL_VISIBLE, MODAL_INFRARED):
        raise ShapeError(f"modal must be 0 (both), 1 (visible) or 2 (infrared), got {modal!r}")
    used = {
        MODAL_BOTH: (("x_vis", x_vis), ("x_ir", x_ir)),
        MODAL_VISIBLE: (("x_vis", x_vis),),
        MODAL_INFRARED: (("x_ir", x_ir),),
    }[modal]
    for name, x in used:
        if x is None:
            raise ShapeError(f"{name}: images required for modal={modal}, got None")
        check_images(x, name, min_hw=min_hw)
    if modal == MODAL_BOTH and x_vis.shape[2:] != x_ir.shape[2:]:
        raise ShapeError(f"x_vis {tuple(x_vis.shape)} and x_ir {tuple(x_ir.shape)} must have the same H x W")
    return used[0][1]


def two_stream_stems(
    stem_visible: nn.Module, stem_infrared: nn.Module, x_vis: Tensor | None, x_ir: Tensor | None, modal: int
) -> Tensor:
    """Each modality through its own stem; both: visible then infrared on the batch dim."""
    if modal == MODAL_BOTH:
        return torch.cat((stem_visible(x_vis), stem_infrared(x_ir)), dim=0)
    if modal == MODAL_VISIBLE:
        return stem_visible(x_vis)
    return stem_infrared(x_ir)


#: which convolutions ABD-Net's O.W. covers in a two-stream ResNet (``loss.svdo_ow.reach``)
OW_REACH = ("abd", "all")


def two_stream_ow_modules(
    stem_visible: nn.Module, stem_infrared: nn.Module, backbone: nn.Module, reach: str = "all"
) -> list[nn.Conv2d]:
    """The convolutions ABD-Net's SVDO O.W. penalty covers in a two-stream ResNet.

    ``"all"``: every ``Conv2d`` of both stems and the trunk, as ABD-Net's paper and README say ("all
    conv layers in our ResNet-50 backbone").  ``"abd"``: those ABD-Net's code reaches
    (``torchreid/regularizers/__init__.py``, ``ConvRegularizer.get_all_conv_layers`` descends only
    into ``nn.Sequential`` modules, and its ResNet backbone is ``Sequential(conv1, bn1, relu,
    maxpool, layer1)`` + ``Sequential(layer2, layer3)`` of ``Bottleneck`` blocks it does not enter):
    the stem's ``conv1``, here once per stem.
    """
    if reach == "abd":
        return [stem_visible.conv1, stem_infrared.conv1]
    if reach == "all":
        trees = (stem_visible, stem_infrared, backbone)
        return [m for tree in trees for m in tree.modules() if isinstance(m, nn.Conv2d)]
    raise ConfigError(f"loss.svdo_ow.reach: unknown {reach!r}; expected {' or '.join(OW_REACH)}")


class ReIDModel(nn.Module):
    """Base class: the train/eval contract and the test-time descriptor ``embed``.

    Subclasses set ``num_embeddings`` (E: 1 + number of generated embeddings;
    3 for DEEN) and implement ``forward_features`` / ``forward_head``.
    """

    num_embeddings: int = 1
    #: bytes of activations a training step keeps per byte of float32 input images, at the default
    #: width (``benchmarks/bench_activation_memory.py``): the config's memory estimate
    train_bytes_per_input_byte: float = 340.0
    #: the smallest (H, W) input the model's strides take (the config and the inference check it)
    min_input_hw: tuple[int, int] = (1, 1)
    #: which named weights of :mod:`vireid.models.pretrained` fit the backbone (None: paths only)
    pretrained_family: str | None = None
    #: the constructor's keyword arguments (set by each model; saved with the weights)
    config: dict[str, Any]

    @property
    def aux_loss_names(self) -> tuple[str, ...]:
        """Names of the label-free losses ``forward`` returns in ``TrainOutput.aux_losses`` in training."""
        return ()

    def rng_generators(self) -> dict[str, torch.Generator]:
        """Named ``torch.Generator`` s the model draws from (sub-modules listing them in a
        ``random_generators`` attribute); the trainer saves them with its RNG states."""
        out: dict[str, torch.Generator] = {}
        for name, m in self.named_modules():
            for i, g in enumerate(getattr(m, "random_generators", None) or ()):
                if isinstance(g, torch.Generator):
                    out[f"{name}.{i}"] = g
        return out

    # ------------------------------------------------------------------ weights
    @classmethod
    def family_for(cls, kwargs: dict[str, Any]) -> str | None:
        """The ``pretrained_family`` of this class built with constructor ``kwargs``, without building it."""
        family = cls.__dict__.get("pretrained_family", ReIDModel.pretrained_family)
        return family if isinstance(family, str) or family is None else None

    def load_pretrained(self, name_or_path: str | os.PathLike) -> None:
        """Initialise the backbone from pretrained weights: a name (``"imagenet"``, see
        :mod:`vireid.models.pretrained`; downloaded once) or a file path."""
        from vireid.models.pretrained import resolve
        from vireid.models.weights import is_vireid_checkpoint

        path = Path(os.fspath(name_or_path)).expanduser()
        if path.is_file() and is_vireid_checkpoint(path):
            raise CheckpointError(
                f"{name_or_path}: is a whole vireid model, not backbone weights; to start "
                f"training from it, use train.init_from={name_or_path} (model.pretrained "
                "takes ImageNet weights: a name such as imagenet, or a torchvision/timm file)"
            )
        if not path.is_file() and self.pretrained_family is None:
            raise CheckpointError(
                f"{name_or_path}: not a file, and {type(self).__name__} of this size has no "
                "named pretrained weights; pass a path"
            )
        self._load_pretrained_file(resolve(name_or_path, self.pretrained_family))

    def _load_pretrained_file(self, path: Path) -> None:
        raise CheckpointError(f"{type(self).__name__} cannot load pretrained backbone weights")

    def save(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
        """Write the weights and the constructor arguments in vireid's safetensors format."""
        from vireid.models.weights import save_model

        save_model(self, path, metadata)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> "ReIDModel":
        """Rebuild a model written by :meth:`save` (or by training) and load it strictly (eval mode)."""
        from vireid.models.weights import rebuild_model

        return rebuild_model(path, expected=cls)[0]

    def forward_features(
        self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int = MODAL_BOTH
    ) -> tuple[Tensor, dict[str, Tensor], dict[str, Any]]:
        """Return ``(pooled (E*M, D), aux_losses, fields)``; ``fields`` fills the optional
        :class:`TrainOutput` fields (``of_features``, ``branch_embeddings``, ``modality``, ``feature_map``)."""
        raise NotImplementedError

    def init_head(self, feat_dim: int, num_classes: int, neck: nn.Module | None = None) -> None:
        """The head every vireid model shares, under the state-dict names ``bottleneck`` and
        ``classifier`` (so the authors' DEEN and AGW checkpoints load as they are): the neck (default
        DEEN's BNNeck, :func:`bnneck`) and a bias-free classifier, weight ~ N(0, 0.001) (DEEN/AGW
        ``model.py``)."""
        self.bottleneck = neck if neck is not None else bnneck(feat_dim)
        self.classifier = nn.Linear(feat_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, 0.0, 0.001)

    def forward_head(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(bn_features, logits)`` for pooled features: the neck, then the classifier."""
        feat_bn = self.bottleneck(pooled)
        return feat_bn, self.classifier(feat_bn)

    def forward(self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int = MODAL_BOTH):
        pooled, aux, fields = self.forward_features(x_vis, x_ir, modal)
        feat_bn, logits = self.forward_head(pooled)
        if self.training:
            return TrainOutput(pooled, logits, aux, **fields)
        return EvalOutput(F.normalize(pooled, dim=1), F.normalize(feat_bn, dim=1))

    def descriptor(
        self,
        images: Tensor,
        modal: int,
        *,
        flip: bool = True,
        combine: str = "all",
        alpha: float = 0.1,
        normalize: bool = True,
    ) -> Tensor:
        """Differentiable/traceable core of :meth:`embed` (the model must already be in eval mode).

        Used as is by the ONNX exporter; :meth:`embed` wraps it with ``no_grad`` and eval mode.
        """
        x_vis = images if modal == MODAL_VISIBLE else None
        x_ir = images if modal == MODAL_INFRARED else None
        out = self(x_vis, x_ir, modal)
        pool, bn = out.feat, out.feat_bn
        if flip:
            fl = images.flip(3)
            out2 = self(fl if x_vis is not None else None, fl if x_ir is not None else None, modal)
            pool, bn = pool + out2.feat, bn + out2.feat_bn
        return fuse_embeddings(pool, bn, images.shape[0], combine=combine, alpha=alpha, normalize=normalize)

    @torch.no_grad()
    def embed(
        self,
        images: Tensor,
        modality: Modality | int,
        *,
        flip: bool = True,
        combine: Literal["all", "weighted", "pool", "bn"] = "all",
        alpha: float = 0.1,
        normalize: bool = True,
    ) -> Tensor:
        """Test descriptor of preprocessed images (B, 3, H, W), DEEN's test-time fusion.

        DEEN's ``test.py`` sums the eval features of an image and its horizontal
        flip, then scores ``sum_e q_pool_e . g_pool_e + q_bn_e . g_bn_e`` over the E
        embeddings ("all"), or ``alpha * pool + (1 - alpha) * bn`` ("weighted",
        alpha = 0.1).  Both are inner products of a concatenated descriptor
        ``[c_p * pool_1..E, c_b * bn_1..E]`` with ``c_p = sqrt(alpha)``,
        ``c_b = sqrt(1 - alpha)`` for "weighted", which is what we return.  With
        ``normalize=False`` the inner products (and so the rankings) equal the
        authors' exactly; with ``normalize=True`` (default) the descriptor is
        L2-normalised, which makes it usable as a cosine/Euclidean embedding.
        """
        if not isinstance(images, Tensor) or not images.is_floating_point():
            got = f"a {images.dtype} tensor" if isinstance(images, Tensor) else f"a {type(images).__name__}"
            raise ShapeError(
                f"embed: expected preprocessed float images (B, 3, H, W) normalised with the ImageNet "
                f"mean/std, got {got}; for raw images (uint8 arrays or tensors, paths, PIL) use "
                "vireid.load_model(...).embed, which preprocesses them"
            )
        check_images(images, "embed")
        modal = modality_to_modal(modality)
        was_training = self.training
        self.eval()
        try:
            return self.descriptor(images, modal, flip=flip, combine=combine, alpha=alpha, normalize=normalize)
        finally:
            self.train(was_training)


def fuse_embeddings(
    pool: Tensor, bn: Tensor, batch: int, *, combine: str = "all", alpha: float = 0.1, normalize: bool = True
) -> Tensor:
    """Combine eval features ``(E * B, D)`` (embedding-major) into one descriptor per image (see ``embed``)."""
    e = pool.shape[0] // batch
    pool = pool.reshape(e, batch, -1).transpose(0, 1).reshape(batch, -1)
    bn = bn.reshape(e, batch, -1).transpose(0, 1).reshape(batch, -1)
    if combine == "all":
        desc = torch.cat([pool, bn], dim=1)
    elif combine == "weighted":
        desc = torch.cat([pool * alpha**0.5, bn * (1 - alpha) ** 0.5], dim=1)
    elif combine == "pool":
        desc = pool
    elif combine == "bn":
        desc = bn
    else:
        raise ShapeError(f"unknown combine {combine!r}; expected all, weighted, pool or bn")
    return F.normalize(desc, dim=1) if normalize else desc
