"""core.device: the one device decision, for training and inference alike."""

import pytest

from vireid.core.device import resolve_device
from vireid.errors import ConfigError


@pytest.mark.parametrize("name", ["meta", "mps", "xpu", "abc", "cuda:x", ""])
def test_only_auto_cpu_and_cuda_are_devices(name):
    with pytest.raises(ConfigError, match=r"--device: (unknown|unsupported) device"):
        resolve_device(name, "--device")


def test_auto_and_cpu():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")


def test_a_cuda_device_the_machine_lacks_is_named(monkeypatch):
    """cuda:99 on a machine with one GPU reached torch as a traceback at the first tensor moved."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0").index == 0 and resolve_device("cuda").type == "cuda"
    with pytest.raises(
        ConfigError, match=r"^train.device='cuda:99' but this machine has 1 CUDA device\(s\): cuda:0 to cuda:0$"
    ):
        resolve_device("cuda:99")
