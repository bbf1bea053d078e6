"""``vireid.load_model``: a trained model ready to embed raw images of either modality.

>>> model = vireid.load_model("runs/deen_sysu")            # doctest: +SKIP
>>> q = model.embed("query_ir.jpg", modality="infrared")   # (1, D), L2-normalised
>>> g = model.embed(gallery_paths, modality="visible")     # (N, D), batched
>>> scores = q @ g.T                                       # cosine similarity

Preprocessing (:mod:`vireid.inference.preprocess`) happens exactly once, inside
:meth:`InferenceModel.embed`; the descriptor is :meth:`vireid.models.base.ReIDModel.embed`
with the configured test-time fusion (flip, embedding combination).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vireid.core.device import resolve_device
from vireid.errors import ShapeError, VireidError
from vireid.inference.loading import InferenceConfig, file_sha256, inference_config, read_checkpoint
from vireid.inference.preprocess import iter_images, preprocess_batch
from vireid.models.base import MODAL_VISIBLE, modality_to_modal
from vireid.utils.progress import progress_bar

MODALITIES = ("visible", "infrared")


def modality_name(modality: str | int) -> str:
    """Canonical modality name (``"visible"`` / ``"infrared"``); aliases as :func:`modality_to_modal`."""
    return "visible" if modality_to_modal(modality) == MODAL_VISIBLE else "infrared"


class InputSizeError(ShapeError):
    """An input size or batch size the model cannot take; ``params`` names the arguments of
    :func:`load_model` at fault (a caller names its own options for them)."""

    def __init__(self, message: str, params: tuple[str, ...]) -> None:
        super().__init__(message)
        self.params = params


def _check_input_size(model: nn.Module, size: tuple[int, int], batch_size: int) -> None:
    """The input size the model's strides take, and a batch (with its flipped copy) the memory
    ceiling of a config's test batch allows (:mod:`vireid.config.validate`)."""
    from vireid.config.validate import MEMORY_CEILING, TEST_BYTES_PER_INPUT_BYTE

    (h, w), (low_h, low_w) = size, getattr(model, "min_input_hw", (1, 1))
    name = type(model).__name__
    if h < low_h or w < low_w:
        raise InputSizeError(
            f"input size {h}x{w}: {name} takes images of at least {low_h}x{low_w} (its strides)", ("img_size",)
        )
    need = 2 * batch_size * 3 * h * w * 4 * TEST_BYTES_PER_INPUT_BYTE
    if need > MEMORY_CEILING:
        raise InputSizeError(
            f"input size {h}x{w} in batches of {batch_size}: about {need / 2**30:.0f} GiB per batch (estimated); "
            f"vireid allows up to {MEMORY_CEILING / 2**30:.0f} GiB: lower the input size or the batch size",
            ("img_size", "batch_size"),
        )


class InferenceModel:
    """A model in eval mode with its test-time configuration and identity.

    Attributes:
        model: the :class:`~vireid.models.base.ReIDModel` (eval mode, on ``device``).
        config: the :class:`InferenceConfig` (input size, normalisation, flip, combine).
        checkpoint_sha256: SHA-256 of the checkpoint file that was read.
        weights_sha256: SHA-256 of the model's tensors (:func:`vireid.models.weights.weights_sha256`),
            what identifies the model: a re-saved copy of the same weights has the same.
        source: that file's path (absolute).
    """

    def __init__(
        self,
        model: nn.Module,
        config: InferenceConfig,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
        checkpoint_sha256: str = "",
        source: str = "",
        trained_size: tuple[int, int] | None = None,
    ) -> None:
        if int(batch_size) < 1:
            raise VireidError(f"batch_size must be >= 1, got {batch_size}")
        _check_input_size(model, config.input_size, int(batch_size))
        self.device = resolve_device(device, "device")
        self.model = model.to(self.device).eval()
        self.config = config
        self.batch_size = int(batch_size)
        self.checkpoint_sha256 = checkpoint_sha256
        self._weights_sha256: str | None = None
        self.source = source
        self.trained_size = tuple(trained_size) if trained_size is not None else None  # the run's (H, W)
        self._dim: int | None = None

    # ------------------------------------------------------------------ identity
    @property
    def input_size(self) -> tuple[int, int]:
        return self.config.input_size

    @property
    def descriptor_dim(self) -> int:
        """Length of a descriptor (E embeddings x feature dim, x2 for pool + BN)."""
        if self._dim is None:
            e, d = getattr(self.model, "num_embeddings", None), getattr(self.model, "feat_dim", None)
            if e is not None and d is not None:
                self._dim = int(e) * int(d) * (2 if self.config.combine in ("all", "weighted") else 1)
            else:  # unknown architecture: measure it
                h, w = self.input_size
                self._dim = int(self._forward(torch.zeros(1, 3, h, w), "visible").shape[1])
        return self._dim

    @property
    def weights_sha256(self) -> str:
        if self._weights_sha256 is None:
            from vireid.models.weights import weights_sha256

            self._weights_sha256 = weights_sha256(self.model)
        return self._weights_sha256

    @property
    def model_id(self) -> dict[str, Any]:
        """What a search index stores to refuse queries from another model: the hash of the
        tensors and of the inference config, and the descriptor size (the checkpoint file's
        hash and path are kept for information)."""
        return {
            "weights_sha256": self.weights_sha256,
            "config_sha256": self.config.sha256(),
            "descriptor": self.descriptor_dim,
            "architecture": self.config.architecture,
            "checkpoint": self.source,
            "checkpoint_sha256": self.checkpoint_sha256,
        }

    # ------------------------------------------------------------------ embedding
    def preprocess(self, images: Any) -> Tensor:
        """Images (paths, PIL, arrays, tensors; single or list) -> normalised (B, 3, H, W) float32."""
        h, w = self.input_size
        return preprocess_batch(list(iter_images(images)), h, w, mean=self.config.mean, std=self.config.std)

    def _forward(self, batch: Tensor, modality: str) -> Tensor:
        c = self.config
        return (
            self.model.embed(
                batch.to(self.device), modality, flip=c.flip, combine=c.combine, alpha=c.alpha, normalize=True
            )
            .float()
            .cpu()
        )

    @torch.no_grad()
    def embed(
        self, images: Any, modality: str = "visible", *, batch_size: int | None = None, progress: bool = False
    ) -> Tensor:
        """L2-normalised descriptors ``(N, D)`` (CPU float32) of ``images``, in order.

        ``images``: a file path, PIL image, uint8 array or tensor ((C, H, W) or a (B, C, H, W)
        batch), or a list of them; a single image gives ``(1, D)``.  Preprocessed and embedded
        ``batch_size`` images at a time (default: the model's ``batch_size``), so long lists of
        paths use bounded memory.  ``progress`` shows a tqdm bar.
        """
        name = modality_name(modality)
        items = list(iter_images(images))
        if not items:
            raise ShapeError("no images to embed")
        bs = int(batch_size or self.batch_size)
        h, w = self.input_size
        bar = progress_bar(progress, total=len(items), desc=f"embedding {name}", unit="img")
        out = []
        try:
            for start in range(0, len(items), bs):
                chunk = items[start : start + bs]
                batch = preprocess_batch(chunk, h, w, mean=self.config.mean, std=self.config.std, start=start)
                feats = self._forward(batch, name)
                self._check(feats, batch, chunk, start, name)
                out.append(feats)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        feats = torch.cat(out)
        self._dim = int(feats.shape[1])
        return feats

    __call__ = embed

    def _size_note(self) -> str:
        """``"; the model ran at input size HxW ..."`` where it runs at a size other than its run's
        (a cause of activations that overflow: non-local blocks sum over every position), else ``""``."""
        size, trained = tuple(self.input_size), self.trained_size
        if trained is None or size == trained:
            return ""
        return (
            f"; the model ran at input size {size[0]}x{size[1]} (--input-size), not the "
            f"{trained[0]}x{trained[1]} it was trained at"
        )

    def _check(self, feats: Tensor, batch: Tensor, chunk: list, start: int, modality: str) -> None:
        """Refuse descriptors that are not finite (saying why: weights, input or the layer that
        overflowed, :func:`vireid.models.diagnose.explain_nonfinite`) or all zeros (the image)."""
        from vireid.models.diagnose import describe_image, explain_nonfinite, zero_descriptor_message

        bad = (~torch.isfinite(feats).all(dim=1)).nonzero().flatten()
        if len(bad):
            i = int(bad[0])
            what = _name_of(chunk[i], start + i)
            why = explain_nonfinite(self.model, batch[i : i + 1], lambda x: self._forward(x, modality), what="it")
            odd = describe_image(batch[i])
            raise ShapeError(
                f"the {modality} descriptor of {what} holds NaN or inf: {why}"
                + (f"; the image is {odd}" if odd else "")
                + self._size_note()
            )
        zero = (feats.abs().sum(dim=1) == 0).nonzero().flatten()
        if len(zero):
            i = int(zero[0])
            raise ShapeError(zero_descriptor_message(_name_of(chunk[i], start + i), batch[i], self._size_note()))

    # ------------------------------------------------------------------ export
    def export_onnx(
        self, out: str | Path, modality: str, *, preprocess_in_graph: bool = False, opset: int = 17
    ) -> Path:
        """ONNX graph of this model's descriptor for ``modality`` (see :mod:`vireid.export.onnx`)."""
        from vireid.export.onnx import export_onnx
        from vireid.utils.outputs import ONNX, check_file, reading

        inputs = {"checkpoint": self.source}
        check_file(out, ONNX, inputs=inputs)  # before any work
        c = self.config
        model = self.model.to("cpu")
        try:
            with reading(inputs):
                return export_onnx(
                    model,
                    out,
                    modality=modality_name(modality),
                    img_size=c.input_size,
                    flip=c.flip,
                    combine=c.combine,
                    alpha=c.alpha,
                    preprocess_in_graph=preprocess_in_graph,
                    opset=opset,
                    metadata={"model_id": self.model_id, "architecture": c.architecture},
                    note=self._size_note(),
                )
        finally:
            self.model.to(self.device)

    def __repr__(self) -> str:
        h, w = self.input_size
        return (
            f"InferenceModel({self.config.architecture}, input {h}x{w}, flip={self.config.flip}, "
            f"combine={self.config.combine!r}, device={self.device}, source={self.source!r})"
        )


def _name_of(item: Any, index: int) -> str:
    """An image as a message names it: its path, else its position."""
    import os

    return str(item) if isinstance(item, (str, os.PathLike)) else f"image {index}"


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    batch_size: int = 64,
    img_size: tuple[int, int] | None = None,
    flip: bool | None = None,
    combine: str | None = None,
    alpha: float | None = None,
    variant: str | None = None,
) -> InferenceModel:
    """Load any vireid checkpoint (run folder, engine/``DEEN.save`` safetensors, authors' ``.t``).

    ``img_size`` (H, W), ``flip``, ``combine`` and ``alpha`` override the checkpoint's test-time
    configuration; ``variant`` forces the DEEN variant of an authors' checkpoint (inferred by
    default).  See :mod:`vireid.inference.loading` for what each source provides.
    """
    loaded = read_checkpoint(path, variant=variant)
    cfg = inference_config(loaded, img_size=img_size, flip=flip, combine=combine, alpha=alpha)
    return InferenceModel(
        loaded.model,
        cfg,
        device=device,
        batch_size=batch_size,
        checkpoint_sha256=file_sha256(loaded.weights),
        source=os.path.abspath(loaded.weights),  # recorded by indexes and features files: found from anywhere
        trained_size=inference_config(loaded, flip=flip, combine=combine, alpha=alpha).input_size,
    )
