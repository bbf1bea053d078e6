"""Reading an exported ONNX model back (its metadata) and running it with onnxruntime, for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from torch import Tensor


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The metadata properties of an exported model."""
    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def run_onnx(path: str | Path, images: np.ndarray | Tensor, threads: int | None = None) -> np.ndarray:
    """Run an exported model with onnxruntime on a float32 batch."""
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = images.numpy() if isinstance(images, Tensor) else np.asarray(images)
    return sess.run(None, {"images": x.astype(np.float32)})[0]
