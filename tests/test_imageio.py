"""Image loading rules per Pillow mode, exact 8-bit round trips, PNG saving."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from integrations.compression.imageio import load_rgb, load_rgb_uint8, save_png, to_uint8

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
GRAY = RNG.integers(0, 256, size=(7, 11), dtype=np.uint8)


def _save(tmp_path, image: Image.Image, name: str, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A minimal PNG written by hand (Pillow cannot write 16-bit RGB PNGs)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_rgb_png_exact(tmp_path):
    x = load_rgb(_save(tmp_path, Image.fromarray(RGB), "rgb.png"))
    assert x.shape == (1, 3, 7, 11) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert np.array_equal(to_uint8(x), RGB)


def test_every_8bit_level_survives_load_and_to_uint8(tmp_path):
    levels = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    path = _save(tmp_path, Image.fromarray(levels), "levels.png")
    assert np.array_equal(to_uint8(load_rgb(path)), levels)


@pytest.mark.parametrize("mode", ["L", "1"])
def test_grayscale_is_replicated_to_rgb(tmp_path, mode):
    image = Image.fromarray(GRAY).convert(mode)
    got = load_rgb_uint8(_save(tmp_path, image, f"{mode}.png"))
    expected = np.asarray(image.convert("L"))
    assert got.shape == (7, 11, 3)
    for c in range(3):
        assert np.array_equal(got[..., c], expected)


def test_palette_expands_through_the_palette(tmp_path):
    image = Image.fromarray(RGB).quantize(colors=16)
    got = load_rgb_uint8(_save(tmp_path, image, "p.png"))
    assert np.array_equal(got, np.asarray(image.convert("RGB")))


def test_opaque_alpha_is_dropped(tmp_path):
    rgba = np.concatenate([RGB, np.full((7, 11, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(load_rgb_uint8(_save(tmp_path, Image.fromarray(rgba), "rgba.png")), RGB)
    la = Image.fromarray(np.stack([GRAY, np.full_like(GRAY, 255)], axis=2), mode="LA")
    assert np.array_equal(load_rgb_uint8(_save(tmp_path, la, "la.png"))[..., 1], GRAY)


@pytest.mark.parametrize("kind", ["RGBA", "LA", "P-transparency"])
def test_transparent_pixels_are_refused(tmp_path, kind):
    if kind == "RGBA":
        alpha = np.full((7, 11, 1), 255, np.uint8)
        alpha[2, 3] = 128
        image = Image.fromarray(np.concatenate([RGB, alpha], axis=2))
    elif kind == "LA":
        alpha = np.full_like(GRAY, 255)
        alpha[0, 0] = 0
        image = Image.fromarray(np.stack([GRAY, alpha], axis=2), mode="LA")
    else:
        image = Image.fromarray(RGB).quantize(colors=16)
        image.info["transparency"] = int(np.asarray(image)[0, 0])
    path = _save(tmp_path, image, "t.png", **({"transparency": image.info["transparency"]}
                                               if kind == "P-transparency" else {}))
    with pytest.raises(ValueError, match=r"not fully opaque .*flatten"):
        load_rgb(path)


def test_16bit_gray_is_refused(tmp_path):
    image = Image.fromarray((GRAY.astype(np.uint16) * 257))
    assert image.mode.startswith("I;16")
    with pytest.raises(ValueError, match="16-bit"):
        load_rgb(_save(tmp_path, image, "g16.png"))


@pytest.mark.parametrize("colour_type, samples", [(2, 3), (6, 4)])
def test_16bit_rgb_png_is_refused_not_truncated(tmp_path, colour_type, samples):
    w, h = 5, 4
    rows = b"".join(b"\x00" + bytes(RNG.integers(0, 256, size=w * samples * 2, dtype=np.uint8)) for _ in range(h))
    path = tmp_path / "rgb48.png"
    path.write_bytes(_png(w, h, 16, colour_type, rows))
    assert Image.open(path).mode in ("RGB", "RGBA")  # what Pillow would silently hand over
    with pytest.raises(ValueError, match="16 bits per sample"):
        load_rgb(path)


def test_32bit_integer_and_float_are_refused(tmp_path):
    with pytest.raises(ValueError, match="32-bit float"):
        load_rgb(_save(tmp_path, Image.fromarray(GRAY.astype(np.float32)), "f.tiff"))


def test_cmyk_multiframe_junk_and_truncation_are_refused(tmp_path):
    with pytest.raises(ValueError, match="CMYK"):
        load_rgb(_save(tmp_path, Image.fromarray(RGB).convert("CMYK"), "c.jpg"))
    frames = [Image.fromarray(RGB), Image.fromarray(RGB[::-1].copy())]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="2 frames"):
        load_rgb(gif)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="not an image"):
        load_rgb(junk)
    big = RNG.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ValueError, match="damaged or truncated"):
        load_rgb(cut)
    with pytest.raises(FileNotFoundError):
        load_rgb(tmp_path / "missing.png")


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(RGB)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _save(tmp_path, image, "o.png", exif=exif)
    got = load_rgb_uint8(path)
    assert got.shape == (11, 7, 3)
    assert np.array_equal(got, np.rot90(RGB, k=-1))


def test_save_png_round_trip_and_refusal(tmp_path):
    x = torch.rand(1, 3, 9, 13)
    path = tmp_path / "out.png"
    save_png(x, path)
    assert np.array_equal(load_rgb_uint8(path), to_uint8(x))
    with pytest.raises(FileExistsError, match="--force"):
        save_png(x, path)
    save_png(torch.zeros(1, 3, 9, 13), path, force=True)
    assert load_rgb_uint8(path).max() == 0


def test_to_uint8_rounds_half_up_and_clamps():
    x = torch.tensor([-0.5, 0.0, 0.5 / 255, 1.5 / 255, 0.2, 1.0, 7.0]).reshape(1, 1, 7).expand(3, 1, 7)
    got = to_uint8(x)[0, :, 0]
    assert got.tolist() == [0, 0, 1, 2, 51, 255, 255]
    assert to_uint8(x.unsqueeze(0)).shape == (1, 7, 3)


def test_to_uint8_refuses_bad_input():
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        to_uint8(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(torch.full((3, 2, 2), float("nan")))
    with pytest.raises(TypeError):
        to_uint8(np.zeros((3, 2, 2)))
    with pytest.raises(TypeError, match="floating"):
        to_uint8(torch.zeros(3, 2, 2, dtype=torch.uint8))
