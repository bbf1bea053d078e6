import os

import numpy as np
import pytest
from PIL import Image

from vireid.data.image import load_resized, read_image
from vireid.errors import DatasetError


def test_modes_are_converted_to_rgb(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    out = read_image(tmp_path / "rgb.png")
    assert out.mode == "RGB" and np.array_equal(np.asarray(out), rgb)

    gray = rgb[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "ir.png")  # single-channel infrared
    out = np.asarray(read_image(tmp_path / "ir.png"))
    assert out.shape == (6, 5, 3) and all(np.array_equal(out[..., c], gray) for c in range(3))

    rgba = np.concatenate([rgb, np.full((6, 5, 1), 7, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert np.array_equal(np.asarray(read_image(tmp_path / "a.png")), rgb)

    pal = Image.fromarray(rgb).convert("P")
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").mode == "RGB"

    i16 = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(i16).save(tmp_path / "t16.png")  # 16-bit thermal
    out = np.asarray(read_image(tmp_path / "t16.png"))
    assert out[0, :, 0].tolist() == [0, 100, 255] and out.shape == (1, 3, 3)


def test_unreadable_files_name_the_path(tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(DatasetError, match=r"corrupt\.jpg: cannot decode image"):
        read_image(bad)
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"trunc\.jpg: cannot decode image"):
        read_image(tmp_path / "trunc.jpg")
    with pytest.raises(DatasetError, match=r"missing\.jpg: image file not found"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(DatasetError, match="is a folder, not an image file"):
        read_image(tmp_path)
    os.mkfifo(tmp_path / "pipe.jpg")  # opened, it would wait for a writer forever
    with pytest.raises(DatasetError, match=r"pipe\.jpg: is a named pipe, not an image file"):
        read_image(tmp_path / "pipe.jpg")


def test_load_resized_and_draft(tmp_path):
    Image.new("RGB", (300, 600), (200, 10, 10)).save(tmp_path / "big.jpg")
    a = load_resized(tmp_path / "big.jpg", 64, 32)
    b = load_resized(tmp_path / "big.jpg", 64, 32, draft=True)
    assert a.shape == b.shape == (64, 32, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 3  # solid colour: draft changes almost nothing
    img = read_image(tmp_path / "big.jpg", draft_size=(32, 64))
    assert img.size == (38, 75)  # decoded at 1/8 scale, still >= the requested size
