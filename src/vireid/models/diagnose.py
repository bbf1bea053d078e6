"""Why a model's descriptors are not finite: the weights, the input, or which layer overflowed.

``extract``, ``index build``, ``search``, ``export`` and the evaluation of ``train``/``test`` refuse
descriptors that hold NaN or inf, and say why with :func:`explain_nonfinite`, which looks, in
order, at

1. the weights (a NaN or infinite parameter or buffer, named);
2. the input images (not finite);
3. the forward pass: hooks on every module find the first whose inputs are finite and whose
   output is not -- the activations overflowed there, in that dtype (float16 saturates at 65504,
   bfloat16 and float32 at about 3.4e38); where that is the model itself, its own code between
   layers overflowed (a pooling's sum), after the last layer whose output was finite;
4. else the descriptor itself (its fusion or normalisation divided by zero).

A descriptor that is all zeros is not an error of the model but of the image: the model responds
to nothing in it (a blank or black crop); :func:`zero_descriptor_message` says so.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
from torch import Tensor, nn


def _finite(x: Any) -> bool:
    if isinstance(x, Tensor):
        return not x.is_floating_point() or bool(torch.isfinite(x).all())
    if isinstance(x, (list, tuple)):
        return all(_finite(v) for v in x)
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    return True


def _largest(x: Any) -> float:
    if isinstance(x, Tensor) and x.is_floating_point() and x.numel():
        finite = x[torch.isfinite(x)]
        return float(finite.abs().max()) if finite.numel() else float("nan")
    if isinstance(x, (list, tuple)):
        return max((_largest(v) for v in x), default=0.0)
    return 0.0


def _dtype(x: Any) -> str:
    if isinstance(x, Tensor):
        return str(x.dtype).replace("torch.", "")
    if isinstance(x, (list, tuple)) and x:
        return _dtype(x[0])
    return "?"


def nonfinite_weights(model: nn.Module) -> str | None:
    """``"stem.conv1.weight (3 NaN of 864)"`` for the first non-finite parameter or buffer, else None."""
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            nan = int(torch.isnan(t).sum())
            return f"{name} ({nan} NaN, {int((~torch.isfinite(t)).sum()) - nan} inf of {t.numel()})"
    return None


def explain_nonfinite(
    model: nn.Module,
    images: Tensor,
    forward: Callable[[Tensor], Tensor],
    *,
    context: Callable[[], Any] = contextlib.nullcontext,
    what: str = "the images",
) -> str:
    """Why ``forward(images)`` (the descriptor of ``model``) holds NaN or inf, as one sentence.

    ``context``: the autocast the descriptors were computed under (the same is used here).
    """
    weights = nonfinite_weights(model)
    if weights is not None:
        return f"the model's weights are not finite numbers ({weights}); did its training diverge?"
    if not bool(torch.isfinite(images).all()):
        return f"{what} hold NaN or inf values after preprocessing"
    first: list[tuple[str, nn.Module, Any, Any]] = []
    last_finite: list[tuple[str, float]] = []  # the last layer that ended with a finite output

    def hook(name: str) -> Callable:
        def fn(module: nn.Module, inputs: Any, output: Any) -> None:
            if first:
                return
            if _finite(inputs) and not _finite(output):
                first.append((name, module, inputs, output))
            elif module is not model and _finite(output):
                last_finite[:] = [(name, _largest(output))]

        return fn

    handles = [m.register_forward_hook(hook(n or type(model).__name__)) for n, m in model.named_modules()]
    try:
        with torch.no_grad(), context():
            out = forward(images)
    finally:
        for h in handles:
            h.remove()
    if first:
        name, module, inputs, output = first[0]
        dtype = _dtype(output)
        limit = {"float16": "65504", "bfloat16": "3.4e38"}.get(dtype, "3.4e38")
        half = dtype in ("float16", "bfloat16")
        hint = " (half precision: compute it in float32, e.g. train.amp=none)" if half else ""
        if module is model and last_finite:  # in the model's own code between its layers (a pooling, a sum)
            after, largest = last_finite[0]
            return (
                f"the activations overflowed in {type(model).__name__}'s own operations after layer {after}, whose "
                f"output is finite but large (largest |x| {largest:.3g}; {dtype} holds values up to {limit}); the "
                f"weights are finite{hint}"
            )
        return (
            f"the activations overflowed at layer {name} ({type(module).__name__}, {dtype}) for {what}: its inputs "
            f"are finite (largest |x| {_largest(inputs):.3g}) but its output is not ({dtype} holds values up to "
            f"{limit}); the weights are finite{hint}"
        )
    if _finite(out):
        return f"the descriptors of {what} are not finite only in some runs (non-deterministic overflow)"
    return (
        f"the descriptor of {what} divides zero by zero when it is fused or normalised (every layer's output is finite)"
    )


def describe_image(image: Tensor) -> str:
    """What is odd about a preprocessed (C, H, W) image: uniform (every pixel the same), else ``""``."""
    if image.dim() == 3 and image.numel() and bool((image == image[:, :1, :1]).all()):
        return "uniform: every pixel has the same value (a blank or black image?)"
    return ""


def zero_descriptor_message(what: str, image: Tensor | None = None, size_note: str = "") -> str:
    """The one line for an all-zero descriptor: it matches nothing, so the image is the problem --
    unless the model ran at a size other than its training's (``size_note``), which is then named
    first, the likelier cause."""
    detail = describe_image(image) if image is not None else ""
    advice = "; run it at the size it was trained at, or leave the image out" if size_note else "; leave the image out"
    return (
        f"{what}: the model's descriptor is all zeros -- it responds to nothing in the image"
        + (f" ({detail})" if detail else "")
        + ", so no similarity to it is defined"
        + size_note
        + advice
    )
