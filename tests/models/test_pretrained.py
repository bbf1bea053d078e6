"""Pretrained weights by name: download through a loopback server into torch.hub's cache, hash check,
offline errors, nothing half-written, and loading into the models."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from vireid.errors import CheckpointError
from vireid.models import pretrained as pt
from vireid.models.resnet import ResNet


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home"


@pytest.fixture()
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / 'www'``."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def tiny_resnet_file(folder: Path) -> tuple[Path, ResNet, str]:
    r = ResNet(layers=(1, 1, 1, 1), base_channels=4, num_classes=10)
    tmp = folder / "r.pth"
    torch.save(r.state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"resnet-{digest[:8]}.pth"
    tmp.rename(path)
    return path, r, digest


def register(monkeypatch, name: str, url: str, prefix: str, family: str = "resnet50") -> pt.PretrainedWeights:
    w = pt.PretrainedWeights(name, family, url, prefix, "test weights")
    monkeypatch.setitem(pt._WEIGHTS, name, w)
    return w


def test_names_resolve_per_family_and_defaults_are_the_authors_files():
    assert pt.get_weights("imagenet", "resnet50").filename == "resnet50-19c8e357.pth"
    assert pt.get_weights("imagenet", "vit_base_patch16").filename == "jx_vit_base_p16_224-80ecf9dd.pth"
    with pytest.raises(CheckpointError, match="for a resnet50 model.*resnet50_imagenet_v1"):
        pt.get_weights("vit_base_patch16_224_in21k", "resnet50")


def test_download_once_into_torch_home_then_load_into_deen(tmp_path, torch_home, server, monkeypatch):
    root, base = server
    path, r, digest = tiny_resnet_file(root)
    w = register(monkeypatch, "tiny_resnet", f"{base}/{path.name}", digest[:8])
    got = pt.resolve("tiny_resnet", "resnet50")
    assert got == torch_home / "hub" / "checkpoints" / path.name and got.read_bytes() == path.read_bytes()
    path.unlink()  # cached now: no second download
    assert pt.resolve("tiny_resnet", "resnet50") == got
    from tests.models.test_deen import tiny

    model = tiny()
    monkeypatch.setitem(pt.DEFAULTS, "resnet50", w.name)  # "imagenet" -> the tiny file
    model.load_pretrained("imagenet")
    torch.testing.assert_close(model.stem_infrared.conv1.weight, r.conv1.weight)
    torch.testing.assert_close(model.backbone.layer2[0].conv3.weight, r.layer2[0].conv3.weight)


def test_hash_mismatch_leaves_nothing_in_the_cache(torch_home, server, monkeypatch):
    root, base = server
    path, _, digest = tiny_resnet_file(root)
    register(monkeypatch, "bad_hash", f"{base}/{path.name}", "00000000")
    with pytest.raises(CheckpointError) as info:
        pt.resolve("bad_hash", "resnet50")
    msg = str(info.value)
    assert "\n" not in msg and "SHA-256" in msg and "model.pretrained=PATH" in msg
    assert not (torch_home / "hub").exists()  # nothing left in the cache, not even its folders


def test_offline_is_one_line_naming_url_cache_path_and_override(torch_home, monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    url = f"http://127.0.0.1:{port}/resnet50-12345678.pth"
    register(monkeypatch, "offline", url, "12345678")
    with pytest.raises(CheckpointError) as info:
        pt.resolve("offline", "resnet50")
    msg = str(info.value)
    assert "\n" not in msg and url in msg and "model.pretrained=PATH" in msg
    assert str(torch_home / "hub" / "checkpoints" / "resnet50-12345678.pth") in msg
    assert not (torch_home / "hub").exists()


def test_file_url_and_paths(tmp_path, torch_home, monkeypatch):
    path, _, digest = tiny_resnet_file(tmp_path)
    register(monkeypatch, "file_url", path.as_uri(), digest[:8])
    assert pt.resolve("file_url", "resnet50").read_bytes() == path.read_bytes()
    assert pt.resolve(path, "resnet50") == path  # a path is used as is
    with pytest.raises(CheckpointError, match="not found"):
        pt.resolve(tmp_path / "missing.pth", "resnet50")
    with pytest.raises(CheckpointError, match="unknown pretrained weights 'imagenett'"):
        pt.resolve("imagenett", "resnet50")


def test_corrupt_cached_file_is_reported(torch_home, monkeypatch, tmp_path):
    w = register(monkeypatch, "cached", "http://127.0.0.1:9/never.pth", "abcdef12")
    dst = pt.cached_path(w)
    dst.parent.mkdir(parents=True)
    dst.write_bytes(b"not the weights")
    with pytest.raises(CheckpointError, match="delete it to download again"):
        pt.resolve("cached", "resnet50")


def test_small_vits_take_paths_only(tmp_path):
    from vireid.models import DEENViT

    vit = DEENViT(
        3, vit=dict(embed_dim=16, depth=2, num_heads=2, patch_size=8), img_size=(32, 16), stages=(1, 1), mfa_pool=(1, 1)
    )
    assert vit.pretrained_family is None
    with pytest.raises(CheckpointError, match="no named pretrained weights; pass a path"):
        vit.load_pretrained("imagenet")
    big = DEENViT.__new__(DEENViT)
    big.vit_args = {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4.0, "patch_size": 16}
    assert big.pretrained_family == "vit_base_patch16"


def test_weights_cli_lists_and_downloads(tmp_path, torch_home, monkeypatch, capsys):
    from vireid.cli.main import main

    path, _, digest = tiny_resnet_file(tmp_path)
    register(monkeypatch, "cli_file", path.as_uri(), digest[:8])
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "resnet50_imagenet_v1  (= imagenet)" in out and "resnet50-19c8e357.pth" in out and "not cached" in out
    assert main(["weights", "download", "cli_file"]) == 0
    assert (torch_home / "hub" / "checkpoints" / path.name).read_bytes() == path.read_bytes()
    assert main(["weights", "download", "nope"]) == 2
    assert "unknown pretrained weights 'nope'" in capsys.readouterr().err


def test_weights_list_says_cached_only_for_a_file_that_matches(tmp_path, torch_home, monkeypatch, capsys):
    """A corrupt file in the cache was listed as ``[cached]``; ``model.pretrained`` then refused it."""
    from vireid.cli.main import main

    path, _, digest = tiny_resnet_file(tmp_path)
    register(monkeypatch, "cli_file", path.as_uri(), digest[:8])
    assert main(["weights", "download", "cli_file"]) == 0
    cached = torch_home / "hub" / "checkpoints" / path.name
    capsys.readouterr()
    assert main(["weights", "list"]) == 0
    assert f"{cached} [cached]" in capsys.readouterr().out
    cached.write_bytes(b"garbage")
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{cached} [cached file does not match SHA-256 {digest[:8]}: delete it to download again]" in out
