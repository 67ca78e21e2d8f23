"""Decoding and encoding: orientation, modes, bit depth, alpha, ICC, formats and limits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from app.processing import simulate_overexposure
from model.photo import (
    CannotEncode,
    NotAnImage,
    TooManyPixels,
    UnsupportedFormat,
    check_encodable,
    decode,
    encode,
    read_rgb,
)
from tests.app.conftest import image_bytes, random_image

LIMIT = 10_000_000


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_exif_orientation_is_applied() -> None:
    photo = random_image(10, 30)  # 30 wide, 10 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    data = image_bytes(photo, "JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode(data, LIMIT)
    assert decoded.color.shape == (30, 10, 3)
    assert decoded.family == "jpeg"
    assert reopen(encode(decoded.color, None, None, "jpeg")).getexif().get(0x0112) is None


def test_grayscale_stays_grayscale() -> None:
    data = image_bytes(random_image(12, 9, channels=1), "PNG")
    decoded = decode(data, LIMIT)
    assert decoded.gray and decoded.color.shape == (12, 9, 1)
    assert reopen(encode(decoded.color, None, None, "png")).mode == "L"
    assert reopen(encode(decoded.color, None, None, "jpeg")).mode == "L"


def test_sixteen_bit_grayscale_keeps_its_bits_in_png() -> None:
    values = (np.arange(40 * 30, dtype=np.uint32).reshape(40, 30) * 53 % 65536).astype(np.uint16)
    data = image_bytes(values, "PNG")
    decoded = decode(data, LIMIT)
    assert decoded.color.dtype == np.uint16 and decoded.family == "png"
    out = reopen(encode(decoded.color, None, None, "png"))
    assert out.mode.startswith("I") and np.array_equal(np.asarray(out), values)
    as_jpeg = reopen(encode(decoded.color, None, None, "jpeg"))
    assert as_jpeg.mode == "L"
    tiff = decode(image_bytes(values, "TIFF"), LIMIT)
    assert tiff.color.dtype == np.uint16 and np.array_equal(tiff.color[..., 0], values)


def test_sixteen_bit_simulation_is_exact_at_sixteen_bits() -> None:
    values = np.array([[[0], [1000], [30000], [65535]]], dtype=np.uint16)
    out = simulate_overexposure(values, 0.5, 1 / 2.2)
    expected = np.round(np.minimum(1, values / 65535 * 0.5 ** (-1 / 2.2)) * 65535)
    assert np.abs(out.astype(float) - expected).max() <= 1


def test_alpha_passes_through_where_the_format_keeps_it() -> None:
    rgba = random_image(8, 8, channels=4)
    decoded = decode(image_bytes(rgba, "PNG"), LIMIT)
    assert decoded.alpha is not None and np.array_equal(decoded.alpha, rgba[..., 3])
    png = reopen(encode(decoded.color, decoded.alpha, None, "png"))
    assert png.mode == "RGBA" and np.array_equal(np.asarray(png)[..., 3], rgba[..., 3])
    webp = reopen(encode(decoded.color, decoded.alpha, None, "webp", 100))
    assert webp.mode == "RGBA"
    assert reopen(encode(decoded.color, decoded.alpha, None, "jpeg")).mode == "RGB"


def test_palette_with_transparency_and_cmyk_become_rgb() -> None:
    palette = Image.fromarray(random_image(8, 8)).quantize(16)
    palette.info["transparency"] = 0
    out = io.BytesIO()
    palette.save(out, "PNG", transparency=0)
    decoded = decode(out.getvalue(), LIMIT)
    assert decoded.color.shape == (8, 8, 3) and decoded.alpha is not None
    cmyk = io.BytesIO()
    Image.fromarray(random_image(8, 8)).convert("CMYK").save(cmyk, "JPEG")
    decoded = decode(cmyk.getvalue(), LIMIT)
    assert decoded.color.shape == (8, 8, 3) and decoded.alpha is None


def test_icc_profile_is_kept() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = image_bytes(random_image(8, 8), "PNG", icc_profile=profile)
    decoded = decode(data, LIMIT)
    assert decoded.icc_profile == profile
    for fmt in ("png", "jpeg", "webp"):
        assert reopen(encode(decoded.color, None, profile, fmt)).info.get("icc_profile") == profile
    # A colour profile is not attached to grayscale output, nor a CMYK one to RGB.
    gray = np.zeros((4, 4, 1), np.uint8)
    assert reopen(encode(gray, None, profile, "png")).info.get("icc_profile") is None


@pytest.mark.parametrize(("fmt", "family"), [("BMP", "png"), ("TIFF", "png"), ("WEBP", "webp")])
def test_default_output_family(fmt: str, family: str) -> None:
    assert decode(image_bytes(random_image(4, 4), fmt), LIMIT).family == family


def test_errors_name_what_is_accepted() -> None:
    with pytest.raises(NotAnImage, match="accepted"):
        decode(b"\x00" * 100, LIMIT)
    with pytest.raises(UnsupportedFormat, match="GIF"):
        decode(image_bytes(random_image(4, 4), "GIF"), LIMIT)
    with pytest.raises(TooManyPixels, match="399"):
        decode(image_bytes(random_image(20, 20)), 399)
    with pytest.raises(CannotEncode, match="format=png"):
        check_encodable((20_000, 10, 3), "webp")


def test_read_rgb_gives_eight_bit_rgb_as_the_service_decodes() -> None:
    gray = random_image(6, 5, channels=1)
    rgb = read_rgb(image_bytes(gray))
    assert rgb.shape == (6, 5, 3) and rgb.dtype == np.uint8
    assert (rgb == gray[..., None]).all()
    rgba = random_image(6, 5, channels=4)
    assert (read_rgb(image_bytes(rgba)) == rgba[..., :3]).all()
