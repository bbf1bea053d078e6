"""ONNX Runtime vs PyTorch eager: DEEN test descriptors (flip + all embeddings) in images/s on CPU.

Both run the same graph -- :class:`vireid.export.onnx.DescriptorModule` -- on the same
normalised batch, one after the other (interleaved repeats, median after warm-up), with the
same number of threads (``--threads``, default 1: on a shared 2-core machine more threads
measure the neighbours' load more than the runtimes).  The full run uses the published DEEN (ResNet-50 widths, random
weights: speed does not depend on them) at a small (128 x 64) and the default (288 x 144)
input size; ``--quick`` a tiny DEEN at 64 x 32.  The note gives the largest absolute
difference between the two descriptors (parity at most 1e-4 is the export's contract).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import cli, interleaved_times


def _case(name: str, model, size: tuple[int, int], batch: int, repeats: int) -> list[dict]:
    import onnxruntime as ort

    from vireid.export import export_onnx

    x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = export_onnx(model, Path(tmp) / "m.onnx", modality="visible", img_size=size)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feed = {"images": x.numpy()}

        def eager():
            with torch.inference_mode():
                return model.embed(x, "visible")

        times = interleaved_times({"torch": eager, "ort": lambda: sess.run(None, feed)}, repeats=repeats)
        diff = float(np.abs(sess.run(None, feed)[0] - eager().numpy()).max())
    h, w = size
    rows = []
    for key, label in (("torch", "PyTorch eager"), ("ort", "ONNX Runtime")):
        rows.append(
            {
                "name": f"{name} {h}x{w}, batch {batch}: {label}",
                "value": batch / times[key],
                "unit": "images/s",
                "note": ""
                if key == "torch"
                else f"x{times['torch'] / times['ort']:.2f} vs eager; max abs diff {diff:.1e}",
            }
        )
    return rows


def run(quick: bool = False, threads: int = 1) -> list[dict]:
    from vireid.models import DEEN

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rows: list[dict] = []
    if quick:
        tiny = DEEN(num_classes=4, base_channels=8, layers=(1, 1, 1, 1)).eval()
        return _case("tiny DEEN", tiny, (64, 32), batch=4, repeats=3)
    deen = DEEN(num_classes=395).eval()
    rows += _case("DEEN", deen, (128, 64), batch=8, repeats=5)
    rows += _case("DEEN", deen, (288, 144), batch=8, repeats=3)
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli(
        "bench_onnx",
        "ONNX Runtime vs PyTorch eager (CPU, DEEN descriptor)",
        run,
        argv,
        __doc__,
        options={"--threads": {"type": int, "default": 1, "help": "threads of both runtimes"}},
    )


if __name__ == "__main__":
    raise SystemExit(main())
