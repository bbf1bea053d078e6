"""Device choice and mixed precision.

* ``resolve_device("auto")`` -> CUDA if available, else CPU (the one device decision).
* ``resolve_amp(mode, device)``: ``none``; ``bf16``; ``fp16`` (CUDA only, with a
  GradScaler); ``auto`` -> bf16 on CUDA when supported (else fp16), bf16 on a CPU with
  native bf16 (AVX512-BF16 or AMX), otherwise none -- emulated bf16 on CPU is slower
  than fp32, so ``auto`` does not pick it.  An explicit ``bf16`` on CPU is honoured.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from vireid.errors import ConfigError


def resolve_device(name: str | torch.device, what: str = "train.device") -> torch.device:
    """The device ``name`` names (``auto``: CUDA if available, else CPU); ``what`` names the
    setting in messages (``train.device``, ``--device``)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{what}: unknown device {name!r}; expected auto, cpu or cuda[:N]") from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"{what}: unsupported device {name!r}; expected auto, cpu or cuda[:N]")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{what}={str(name)!r} but CUDA is not available on this machine")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise ConfigError(f"{what}={str(name)!r} but this machine has {n} CUDA device(s): cuda:0 to cuda:{n - 1}")
    return dev


def cpu_has_native_bf16() -> bool:
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(cpu, probe, None)
        if fn is not None:
            try:
                if fn():
                    return True
            except Exception:  # pragma: no cover - probe not usable on this build
                pass
    return False


@dataclass(frozen=True)
class Precision:
    dtype: torch.dtype | None  # None: full precision
    device_type: str
    use_scaler: bool

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def scaler(self):
        if not self.use_scaler:
            return None
        return torch.amp.GradScaler(self.device_type)

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def resolve_amp(mode: str, device: torch.device) -> Precision:
    dt = device.type
    if mode == "none":
        return Precision(None, dt, False)
    if mode == "auto":
        if dt == "cuda":
            mode = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            mode = "bf16" if cpu_has_native_bf16() else "none"
        return resolve_amp(mode, device)
    if mode == "bf16":
        return Precision(torch.bfloat16, dt, False)
    if mode == "fp16":
        if dt != "cuda":
            raise ConfigError("train.amp=fp16 needs a CUDA device; use bf16 or none on CPU")
        return Precision(torch.float16, dt, True)
    raise ConfigError(f"train.amp: unknown mode {mode!r}; expected none, auto, bf16 or fp16")
