"""ONNX export of a model's test descriptor for one modality (``pip install vireid[export]``).

The exported graph maps a batch of images (dynamic batch, fixed H x W) to the L2-normalised
descriptor of :meth:`vireid.models.base.ReIDModel.embed` (flip fusion and embedding
combination included).  The metadata records the exact preprocessing vireid applies before
the graph (:mod:`vireid.inference.preprocess`): ``preprocessing`` (JSON: decoding to 8-bit RGB,
the resize -- PIL's Lanczos filter to W x H, which matters: bilinear changes the descriptor --,
scaling, mean/std, channel order and layout), plus ``resize_filter``, ``channel_order`` and
whether the normalisation is inside the graph (``preprocessing_in_graph``):

* ``false`` (default): input is float32 RGB (B, 3, H, W), already resized to H x W, scaled
  to [0, 1] and normalised with ImageNet mean/std (``mean``/``std`` metadata).
* ``true``: input is float32 RGB (B, 3, H, W) in [0, 255], resized; scaling and
  normalisation happen inside the graph — do not normalise again.

We use torch's TorchScript-based exporter (``dynamo=False``), which needs no extra
package beyond ``onnx``; the graph is built in memory and written atomically through the output
policy (:mod:`vireid.utils.outputs`: the file is marked as vireid's by its ``producer`` metadata).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from vireid.errors import VireidError
from vireid.models.base import ReIDModel, modality_to_modal
from vireid.utils.io import atomic_write_bytes
from vireid.utils.outputs import ONNX, check_file

MIN_OPSET = 11  # the descriptor's graph (flip, normalisation) needs opset 11 or newer
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DescriptorModule(nn.Module):
    """``images -> descriptor`` for one modality, optionally with preprocessing in the graph."""

    def __init__(
        self,
        model: ReIDModel,
        modality: str,
        *,
        flip: bool = True,
        combine: str = "all",
        alpha: float = 0.1,
        preprocess: bool = False,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.model = model.eval()
        self.modal = modality_to_modal(modality)
        self.flip, self.combine, self.alpha, self.preprocess = flip, combine, alpha, preprocess
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0, persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        if self.preprocess:
            images = (images - self.mean) / self.std
        return self.model.descriptor(
            images, self.modal, flip=self.flip, combine=self.combine, alpha=self.alpha, normalize=True
        )


def preprocessing_recipe(height: int, width: int, in_graph: bool) -> dict[str, Any]:
    """The steps from an image file to the graph's input, as :mod:`vireid.inference.preprocess` does them."""
    return {
        "decode": "PIL, converted to 8-bit RGB (a single-channel image is replicated to 3 channels; "
        "16-bit values v -> round(v / 257))",
        "resize": {
            "library": "PIL",
            "filter": "lanczos",
            "size_hw": [height, width],
            "call": f"image.resize(({width}, {height}), Image.Resampling.LANCZOS)",
            "when": "the image is not already that size",
        },
        "channel_order": "RGB",
        "layout": "NCHW float32",
        "normalise": (
            "inside the graph: pass the resized 0..255 values"
            if in_graph
            else "x / 255, then (x - mean) / std per channel, before the graph"
        ),
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
    }


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise VireidError("ONNX export needs onnx and onnxruntime: pip install 'vireid[export]'") from None


def check_opset(opset: int, name: str = "opset") -> None:
    """``opset`` between :data:`MIN_OPSET` and the installed onnx's newest (``name``: how the
    caller calls it, ``--opset`` on the command line)."""
    _require_onnx()
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= int(opset) <= newest:
        raise VireidError(f"{name}: must be between {MIN_OPSET} and {newest} (the installed onnx), got {opset}")


def export_onnx(
    model: ReIDModel,
    out: str | Path,
    *,
    modality: str,
    img_size: tuple[int, int],
    flip: bool = True,
    combine: str = "all",
    alpha: float = 0.1,
    preprocess_in_graph: bool = False,
    opset: int = 17,
    metadata: Mapping[str, Any] | None = None,
    note: str = "",
) -> Path:
    """Export ``model``'s descriptor for ``modality`` to ``out`` (atomic) and return the path.
    ``note``: added to a refusal of descriptors that are not finite (what the caller knows of why)."""
    check_opset(opset)
    import onnx

    wrapper = DescriptorModule(
        model, modality, flip=flip, combine=combine, alpha=alpha, preprocess=preprocess_in_graph
    ).eval()
    h, w = img_size
    dummy = torch.rand(2, 3, h, w) * (255.0 if preprocess_in_graph else 1.0)
    out = check_file(out, ONNX)  # before any work
    with torch.no_grad():
        probe = wrapper(dummy)
    if not bool(torch.isfinite(probe).all()):  # an ONNX graph computing NaN would be exported silently
        from vireid.models.diagnose import explain_nonfinite

        why = explain_nonfinite(wrapper, dummy, wrapper, what="random test images")
        raise VireidError(f"{out}: not exported, the model's descriptors hold NaN or inf: {why}{note}")
    graph = io.BytesIO()
    # the tracer warns at every Python test of a size (input checks, MFA's order of products): the
    # graph is traced at the exported (h, w), only the batch is free, so each test is a constant
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper,
            (dummy,),
            graph,
            input_names=["images"],
            output_names=["descriptor"],
            dynamic_axes={"images": {0: "batch"}, "descriptor": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load_from_string(graph.getvalue())
    meta = {
        "producer": "vireid",
        "modality": modality,
        "input_size": json.dumps([h, w]),
        "input_layout": "NCHW RGB float32",
        "preprocessing_in_graph": json.dumps(preprocess_in_graph),
        "input_range": "[0, 255]" if preprocess_in_graph else "normalised (x / 255 - mean) / std",
        "mean": json.dumps(IMAGENET_MEAN),
        "std": json.dumps(IMAGENET_STD),
        "flip": json.dumps(flip),
        "resize_filter": "lanczos (PIL Image.Resampling.LANCZOS)",
        "channel_order": "RGB",
        "preprocessing": json.dumps(preprocessing_recipe(h, w, preprocess_in_graph)),
        "combine": combine,
        "output": "L2-normalised descriptor (B, D)",
        **{k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()},
    }
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto)
    atomic_write_bytes(out, proto.SerializeToString(), kind=ONNX)
    return out
