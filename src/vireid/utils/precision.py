"""Float32 islands under autocast: parts of a model that must not run in bfloat16 / float16.

``@keep_fp32`` on a module's ``forward``: under ``torch.autocast`` the forward runs with
autocast disabled and its bfloat16 / float16 tensor arguments cast to float32, so every op
inside (products, normalisation, element-wise arithmetic) computes in float32 and the output
is float32 (the next autocast op casts it down again where it wants to).  Outside autocast it
calls the plain forward: float32 and float64 results are bit for bit unchanged.

:func:`fp32_pins` switches every pin off inside a block (to measure what they change, as
``benchmarks/precision_audit.py`` does); :func:`is_pinned` tells whether a forward carries one.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator, TypeVar

import torch
from torch import Tensor

REDUCED = (torch.bfloat16, torch.float16)
F = TypeVar("F", bound=Callable[..., Any])
_state = {"enabled": True}


def upcast(x: Any) -> Any:
    """``x`` with bfloat16 / float16 tensors (also inside lists and tuples) cast to float32."""
    if isinstance(x, Tensor):
        return x.float() if x.dtype in REDUCED else x
    if isinstance(x, (list, tuple)):
        return type(x)(upcast(v) for v in x)
    return x


def _device_type(args: tuple, kwargs: dict) -> str | None:
    for v in (*args, *kwargs.values()):
        if isinstance(v, Tensor):
            return v.device.type
    return None


def keep_fp32(forward: F) -> F:
    """Decorate ``Module.forward`` (or any function of tensors) to run in float32 under autocast."""

    @functools.wraps(forward)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        dev = _device_type(args, kwargs)
        if dev is None or not _state["enabled"] or not torch.is_autocast_enabled(dev):
            return forward(*args, **kwargs)
        with torch.autocast(dev, enabled=False):
            return forward(*upcast(args), **{k: upcast(v) for k, v in kwargs.items()})

    wrapper.__keep_fp32__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def is_pinned(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` (e.g. ``type(module).forward``) is wrapped by :func:`keep_fp32`."""
    return bool(getattr(fn, "__keep_fp32__", False))


@contextlib.contextmanager
def fp32_pins(enabled: bool) -> Iterator[None]:
    """Turn every :func:`keep_fp32` pin on or off inside the block (process-wide)."""
    before = _state["enabled"]
    _state["enabled"] = bool(enabled)
    try:
        yield
    finally:
        _state["enabled"] = before
