"""Activations a training step keeps, per byte of input images: what the config's memory estimate uses.

For each registered model at its default width, the bytes of the unique storages autograd saves for
backward (:func:`benchmarks._common.saved_activation_bytes`) in a training forward of 2 and of 4
image pairs; the difference, per byte of the extra float32 input, is the per-image cost (weights and
other fixed storages cancel).  Each model declares a value at or above it
(``ReIDModel.train_bytes_per_input_byte``), which :func:`vireid.config.validate.memory_estimate`
multiplies by a training step's input bytes.

    python -m benchmarks.bench_activation_memory [--quick] [--no-write]
"""

from __future__ import annotations

import torch

from benchmarks._common import cli, saved_activation_bytes

#: (model name, constructor arguments, input H, W): default widths at small images
CASES = (
    ("deen", {}, 96, 48),
    ("agw", {}, 96, 48),
    ("deen_vit", {"vit": "small", "img_size": (128, 64)}, 128, 64),
)


def bytes_per_input_byte(name: str, args: dict, h: int, w: int) -> float:
    """Saved-activation bytes per input byte of one more image pair in a training forward."""
    from vireid.models.registry import create_model

    torch.manual_seed(0)
    model = create_model(name, {"num_classes": 10, **args}).train()
    params = list(model.parameters()) + list(model.buffers())

    def saved(n: int) -> int:
        x = torch.randn(n, 3, h, w)
        return saved_activation_bytes(lambda: model(x, x, 0), exclude=[*params, x])

    return (saved(4) - saved(2)) / (2 * 2 * 3 * h * w * 4)


def run(quick: bool = False) -> list[dict]:
    from vireid.models.registry import model_spec

    torch.set_num_threads(1 if quick else torch.get_num_threads())
    rows = []
    for name, args, h, w in CASES[:1] if quick else CASES:
        measured = bytes_per_input_byte(name, args, h, w)
        declared = model_spec(name).cls.train_bytes_per_input_byte
        rows.append(
            {
                "name": f"{name} {args or 'default'} at {h}x{w}",
                "value": round(measured, 1),
                "unit": "saved bytes / input byte",
                "note": f"declared {declared:g} (train_bytes_per_input_byte)",
            }
        )
    return rows


if __name__ == "__main__":
    raise SystemExit(
        cli(
            "bench_activation_memory",
            "Activations per input byte (the config's memory estimate)",
            run,
            description=__doc__,
        )
    )
