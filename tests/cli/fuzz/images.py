"""Grammars of images and image folders: unusual modes and sizes (valid), black, decompression
bombs, truncated or not images at all; folders emptied, nested, or given as the CSV manifest."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import strategies as st

from tests.cli.fuzz.mutation import ROOT, Mutation, any_folder, replace_with


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@st.composite
def image_bytes(draw, data: bytes) -> tuple[bytes, bool, bool, str]:
    """``(bytes, bad, ok, note)``: an image of an unusual mode or size (valid), black, or broken."""
    from PIL import Image

    how = draw(st.sampled_from(["mode", "size", "black", "bomb", "truncated", "text", "gif"]))
    if how == "mode":
        mode = draw(st.sampled_from(["L", "RGBA", "P", "I;16", "1", "CMYK", "LA", "F"]))
        img = Image.open(io.BytesIO(data)).convert("RGB")
        conv = img.convert(mode) if mode not in ("I;16", "F") else img.convert("L").convert(mode)
        buf = io.BytesIO()
        conv.save(buf, format="TIFF" if mode in ("CMYK", "F") else "PNG")
        return buf.getvalue(), False, True, f"a {mode} image"
    if how == "size":
        w, h = draw(st.sampled_from([(1, 1), (2, 1), (1, 3000), (3000, 1), (5, 5)]))
        return _png(Image.new("RGB", (w, h), (120, 30, 200))), False, True, f"a {w}x{h} image"
    if how == "black":
        return _png(Image.new("RGB", (32, 64))), False, False, "a black image"
    if how == "bomb":
        import struct
        import zlib

        w = h = draw(st.sampled_from([20000, 60000]))
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)

        def chunk(t: bytes, d: bytes) -> bytes:
            return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

        body = (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
            + chunk(b"IEND", b"")
        )
        return body, True, False, f"a PNG claiming {w}x{h} pixels"
    if how == "truncated":
        cut = draw(st.integers(0, len(data) - 1))
        return data[:cut], True, False, f"an image truncated at byte {cut}"
    if how == "gif":
        buf = io.BytesIO()
        Image.new("P", (8, 16)).save(buf, format="GIF")
        return buf.getvalue(), False, True, "a GIF under an image's name"
    return b"hello, I am not an image\n", True, False, "a text file under an image's name"


@st.composite
def image_file(draw, rel: str, pristine: Path) -> Mutation:
    data, bad, ok, note = draw(image_bytes((pristine / rel).read_bytes()))
    return Mutation((("write", rel, data),), note, bad=bad, ok=ok, blame=(Path(rel).name,))


@st.composite
def image_folder(draw, rel: str, pristine: Path) -> Mutation:
    """A folder of gallery images: one image changed, a stray file, no images, the folder itself."""
    images = sorted(str(p.relative_to(pristine)) for p in (pristine / rel).rglob("*") if p.is_file())
    how = draw(st.sampled_from(["image", "image", "stray", "none", "folder", "manifest", "link"]))
    if how == "link":  # a link to nothing among the images: named as the link, not as its target
        return Mutation(
            (("symlink", f"{rel}/cam1/dead.jpg", f"{ROOT}/nowhere/gone.jpg"),),
            "a link to nothing among the images",
            bad=True,
            blame=("dead.jpg",),
            not_said=("gone.jpg: image file not found",),
        )
    if how == "image":
        target = draw(st.sampled_from(images))
        data, bad, ok, note = draw(image_bytes((pristine / target).read_bytes()))
        return Mutation((("write", target, data),), f"{Path(target).name}: {note}", ok=ok, blame=(Path(target).name,))
    if how == "stray":
        name = draw(st.sampled_from(["notes.txt", "Thumbs.db", ".DS_Store", "broken.jpg", "x.PNG"]))
        return Mutation((("write", f"{rel}/{name}", b"not an image"),), f"a stray {name}", blame=(name,))
    if how == "none":
        return Mutation(
            replace_with(rel, ("mkdir", rel), ("write", f"{rel}/notes.txt", b"x")),
            "no images in the folder",
            bad=True,
            blame=(Path(rel).name,),
        )
    if how == "manifest":
        return Mutation(place={"images": f"{ROOT}/manifest.csv"}, note="the manifest instead of the folder", ok=True)
    return draw(any_folder(rel, "the image folder"))
