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
