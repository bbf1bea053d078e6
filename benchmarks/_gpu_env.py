"""Facts about the machine for ``benchmarks.gpu_check``: GPU, driver, library versions,
optional packages (each probed on its own, so a missing or broken one is only reported)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks._gpu_common import Rows, gib, row, skip_row

OPTIONAL = ("faiss", "tensorboard", "onnx", "onnxruntime", "matplotlib", "triton")


def _nvidia_smi() -> dict[str, str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    first = out.strip().splitlines()[0] if out.strip() else ""
    parts = [p.strip() for p in first.split(",")]
    return {"smi_name": parts[0], "driver": parts[1], "smi_memory": parts[2]} if len(parts) == 3 else {}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def optional_packages() -> dict[str, str]:
    """``{name: version}`` or ``{name: "missing"}`` (found without importing them: fast)."""
    from importlib import metadata, util

    out = {}
    for name in OPTIONAL:
        try:
            found = util.find_spec(name) is not None
        except (ImportError, ValueError):  # a None placeholder in sys.modules, a broken parent
            found = False
        if not found:
            out[name] = "missing"
            continue
        dist = {"faiss": ("faiss-cpu", "faiss-gpu", "faiss")}.get(name, (name,))
        out[name] = "installed"
        for d in dist:
            try:
                out[name] = metadata.version(d)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def collect(cuda: bool) -> dict[str, Any]:
    """Everything the report header needs (strings and numbers only)."""
    import torch

    env: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_runtime": str(torch.version.cuda),
        "python": platform.python_version(),
        "cpu": _cpu(),
        "cpu_cores": os.cpu_count(),
        "optional": optional_packages(),
    }
    try:
        import numpy

        env["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        env["numpy"] = "missing"
    if not cuda:
        env.update(gpu="none (dry run on the CPU)", gpu_count=0, driver="n/a")
        return env
    try:
        _cuda_facts(env)
    except Exception as exc:  # noqa: BLE001 - the report still gets written
        env.setdefault("gpu", f"unknown ({type(exc).__name__}: {exc})")
    return env


def _cuda_facts(env: dict[str, Any]) -> None:
    import torch

    props = torch.cuda.get_device_properties(0)
    env.update(
        gpu=torch.cuda.get_device_name(0),
        gpu_count=torch.cuda.device_count(),
        gpu_memory_gib=round(gib(props.total_memory), 1),
        capability=f"sm_{props.major}{props.minor}",
        bf16=bool(torch.cuda.is_bf16_supported()),
        cudnn=str(torch.backends.cudnn.version()),
        tf32_conv=bool(torch.backends.cudnn.allow_tf32),
        tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
    )
    try:
        ver = torch.cuda.nccl.version()
        env["nccl"] = ".".join(str(v) for v in ver) if isinstance(ver, (tuple, list)) else str(ver)
    except Exception as exc:  # NCCL missing from this build
        env["nccl"] = f"n/a ({type(exc).__name__})"
    smi = _nvidia_smi()
    env["driver"] = smi.get("driver", "unknown (no nvidia-smi)")
    if "driver" not in smi:
        get = getattr(torch._C, "_cuda_getDriverVersion", None)
        if get is not None:
            v = int(get())
            env["driver"] += f"; CUDA driver API {v // 1000}.{v % 1000 // 10}"


def header(env: dict[str, Any]) -> list[str]:
    """Markdown bullet lines of the environment."""
    e = {
        k: env.get(k, "?")
        for k in (
            "gpu",
            "gpu_count",
            "gpu_memory_gib",
            "capability",
            "bf16",
            "driver",
            "torch",
            "cuda_runtime",
            "cudnn",
            "nccl",
            "tf32_conv",
            "tf32_matmul",
            "numpy",
            "python",
            "cpu",
            "cpu_cores",
        )
    }
    if env.get("gpu_count"):
        gpu = (
            f"{e['gpu']} x{e['gpu_count']} ({e['gpu_memory_gib']} GiB, {e['capability']}, "
            f"bf16 {e['bf16']}), driver {e['driver']}"
        )
        sw = (
            f"torch {e['torch']}, CUDA {e['cuda_runtime']}, cuDNN {e['cudnn']}, NCCL {e['nccl']}, "
            f"TF32 conv {e['tf32_conv']} / matmul {e['tf32_matmul']}"
        )
    else:
        gpu, sw = str(e["gpu"]), f"torch {e['torch']}"
    opt = ", ".join(f"{k} {v}" for k, v in env.get("optional", {}).items())
    return [
        f"- GPU: {gpu}",
        f"- software: {sw}, numpy {e['numpy']}, Python {e['python']}",
        f"- CPU: {e['cpu']}, {e['cpu_cores']} cores",
        f"- optional packages: {opt}",
    ]


def run(s, rows: Rows, env: dict[str, Any]) -> None:
    """Rows for the table: the device and the optional packages (missing ones are skips)."""
    rows.add(
        row(
            "env", "GPU", str(env.get("gpu")), "", f"driver {env.get('driver', '?')}; {env.get('gpu_count', 0)} visible"
        )
    )
    rows.add(
        row(
            "env",
            "torch / CUDA",
            f"{env['torch']} / {env['cuda_runtime']}",
            "",
            f"cuDNN {env.get('cudnn', 'n/a')}, NCCL {env.get('nccl', 'n/a')}",
        )
    )
    for name, ver in env.get("optional", {}).items():
        if ver.startswith("missing"):
            rows.add(skip_row("env", f"optional: {name}", f"{ver}; its checks are skipped"))
        else:
            rows.add(row("env", f"optional: {name}", ver))
