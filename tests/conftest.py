"""Shared test set-up.

Tests use tiny models, for which torch's intra-op threads only add overhead (and thrash
on a shared 2-core machine): every test runs with one thread, restored afterwards.

The suite never touches the network: ``urllib.request.urlopen`` (what vireid downloads
pretrained weights with) refuses every URL but loopback and ``file://`` ones, and torch.hub's
cache (``TORCH_HOME``) is an empty folder of the session, so no test sees weights a developer
downloaded.
"""

import os
import urllib.parse
import urllib.request

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class NetworkAccess(RuntimeError):
    """A test tried to reach the network."""


def _local(url) -> bool:
    text = url.full_url if isinstance(url, urllib.request.Request) else str(url)
    parts = urllib.parse.urlsplit(text)
    return parts.scheme == "file" or parts.hostname in ("127.0.0.1", "localhost", "::1")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    real = urllib.request.urlopen

    def guarded(url, *args, **kwargs):
        if not _local(url):
            raise NetworkAccess(f"the tests must not touch the network (urlopen {url!r})")
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)
    yield


@pytest.fixture(autouse=True, scope="session")
def _empty_torch_home(tmp_path_factory):
    before = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(tmp_path_factory.mktemp("torch_home"))
    yield
    if before is None:
        os.environ.pop("TORCH_HOME", None)
    else:
        os.environ["TORCH_HOME"] = before


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size="4m", readonly=False, skip=True) -> Path``: a small file system of its own (a disk
    that can be filled, a read-only folder); mounting needs root, and where it is refused the test
    is skipped (``skip=False``: None is returned)."""
    import subprocess

    mounted = []

    def mount(size: str = "4m", readonly: bool = False, skip: bool = True):
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        opts = f"size={size}" + (",ro" if readonly else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True)
        if done.returncode != 0:
            if not skip:
                return None
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk) -> None:
    """Fill the file system of ``disk`` up to its last byte (a file ``.filler``)."""
    with open(disk / ".filler", "ab", buffering=0) as fh:
        for block in (1 << 16, 1 << 12, 1 << 8, 1):
            try:
                while True:
                    fh.write(b"\0" * block)
            except OSError:
                pass
