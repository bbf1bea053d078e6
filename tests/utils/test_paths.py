"""utils.paths: an output equal to an input (any spelling, a link) or a replaced folder holding one is refused."""

import os

import pytest

from vireid.errors import VireidError
from vireid.utils.paths import check_output, is_within, same_path


def test_same_path_sees_through_spellings_and_links(tmp_path):
    f = tmp_path / "a" / "x.bin"
    f.parent.mkdir()
    f.write_bytes(b"1")
    os.symlink(f, tmp_path / "link.bin")
    assert same_path(f, tmp_path / "a" / ".." / "a" / "x.bin")
    assert same_path(f, tmp_path / "link.bin")
    assert not same_path(f, tmp_path / "a" / "y.bin")
    assert is_within(f, tmp_path / "a") and not is_within(tmp_path, f)


def test_check_output_refuses_an_input(tmp_path):
    f = tmp_path / "ckpt.safetensors"
    f.write_bytes(b"weights")
    with pytest.raises(VireidError, match="also the checkpoint"):
        check_output(tmp_path / "." / "ckpt.safetensors", {"checkpoint": f})
    with pytest.raises(VireidError, match="also the features file"):
        check_output(f, {"features file": [tmp_path / "other", f]})
    check_output(tmp_path / "new.onnx", {"checkpoint": f, "image": None})  # fine
    with pytest.raises(VireidError, match="is a folder"):
        check_output(tmp_path, {})
    with pytest.raises(VireidError, match="holds the gallery"):
        check_output(tmp_path, {"gallery": tmp_path / "g"}, replaces_folder=True)
    with pytest.raises(VireidError, match="not a folder"):
        check_output(f, {}, folder=True)
    assert f.read_bytes() == b"weights"
