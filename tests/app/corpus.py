"""Bad and unusual uploads, each made in a few bytes: the corpus of test_bad_inputs."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from tests.app.conftest import image_bytes, random_image


@dataclass
class Case:
    """One request: multipart files and form fields (or a raw body), and what it must get."""

    name: str
    status: int
    files: list[tuple[str, tuple[str, bytes, str]]] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    content_type: str | None = None
    path: str = "/correct"
    size: tuple[int, int] | None = None  # (width, height) a 200 must have


def upload(data: bytes, name: str = "photo.png", content_type: str = "image/png") -> Any:
    """The multipart `image` field."""
    return [("image", (name, data, content_type))]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk with its CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height (a decompression bomb's header)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + header + idat + png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose SOF0 claims width x height (at most 65535 a side)."""
    data = bytearray(image_bytes(random_image(8, 8), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png16_rgb(height: int, width: int) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), written chunk by chunk."""
    values = np.random.default_rng(3).integers(0, 65536, (height, width, 3), dtype=np.uint16)
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in values)
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(rows))
    return b"\x89PNG\r\n\x1a\n" + header + idat + png_chunk(b"IEND", b"")


def oriented_jpeg(orientation: int, width: int = 24, height: int = 10) -> bytes:
    """A JPEG stored width x height whose EXIF orientation tag is `orientation`."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return image_bytes(random_image(height, width), "JPEG", exif=exif.tobytes())


def with_corrupt_exif() -> bytes:
    """A JPEG whose APP1 Exif segment holds garbage after a TIFF header."""
    jpeg = image_bytes(random_image(10, 12), "JPEG")
    body = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + b"\xff\x7f" + b"\xab" * 40
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segment + jpeg[2:]


def animated(fmt: str) -> bytes:
    frames = [Image.fromarray(random_image(8, 8, seed=s)) for s in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format=fmt, save_all=True, append_images=frames[1:], duration=50)
    return out.getvalue()


def pillow_bytes(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def palette_with_transparency() -> bytes:
    image = Image.fromarray(random_image(9, 11)).convert("P", palette=Image.Palette.ADAPTIVE)
    return pillow_bytes(image, "PNG", transparency=0)


PNG = image_bytes(random_image(20, 30))
JPEG = image_bytes(random_image(20, 30), "JPEG")
ACCEPTED_IMAGE_TYPES = "JPEG, PNG, WebP, TIFF or BMP"


def cases() -> list[Case]:
    """Every case of the corpus."""
    gif = image_bytes(random_image(8, 8), "GIF")
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'
    heic = struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0mif1heic" + b"\0" * 64
    multipage = pillow_bytes(
        Image.fromarray(random_image(8, 8)),
        "TIFF",
        save_all=True,
        append_images=[Image.fromarray(random_image(8, 8, seed=1))],
    )
    cmyk = pillow_bytes(Image.fromarray(random_image(10, 14)).convert("CMYK"), "JPEG")
    la = pillow_bytes(Image.fromarray(random_image(7, 9, channels=2)[..., :2], "LA"), "PNG")
    gray16 = pillow_bytes(
        Image.fromarray(np.arange(12 * 5, dtype=np.uint16).reshape(5, 12) * 1000), "PNG"
    )
    bad_icc = image_bytes(
        random_image(6, 6), "PNG", icc_profile=b"\0" * 16 + b"RGB " + b"\x13" * 80
    )
    image_as_text_field = Case("image as a text field", 422, data={"image": "not a file"})
    result = [
        Case("empty upload", 400, upload(b"")),
        Case("truncated JPEG", 400, upload(JPEG[: len(JPEG) // 2], "a.jpg", "image/jpeg")),
        Case("truncated PNG", 400, upload(PNG[: len(PNG) // 2])),
        Case("PNG header only", 400, upload(PNG[:33])),
        Case("random bytes", 400, upload(np.random.default_rng(1).bytes(2000))),
        Case("text named .jpg", 400, upload(b"hello, this is text\n" * 20, "a.jpg", "image/jpeg")),
        Case("PNG sent as image/gif", 200, upload(PNG, "a.gif", "image/gif"), size=(30, 20)),
        Case("JSON body", 422, content=b'{"image": "aGVsbG8="}', content_type="application/json"),
        Case(
            "urlencoded body",
            422,
            content=b"image=aGVsbG8%3D",
            content_type="application/x-www-form-urlencoded",
        ),
        Case("no field at all", 422, data={"quality": "80"}),
        Case("field named file", 422, [("file", ("a.png", PNG, "image/png"))]),
        image_as_text_field,
        Case("two images", 422, upload(PNG) + upload(JPEG, "b.jpg", "image/jpeg")),
        Case("1x1", 200, upload(image_bytes(random_image(1, 1))), size=(1, 1)),
        Case("1x3000", 200, upload(image_bytes(random_image(3000, 1))), size=(1, 3000)),
        Case("3000x1", 200, upload(image_bytes(random_image(1, 3000))), size=(3000, 1)),
        Case("PNG claiming 100000x100000", 413, upload(png_claiming(100_000, 100_000))),
        Case("JPEG claiming 65535x65535", 413, upload(jpeg_claiming(65_535, 65_535), "a.jpg")),
        Case("GIF", 415, upload(gif, "a.gif", "image/gif")),
        Case("animated GIF", 415, upload(animated("GIF"), "a.gif", "image/gif")),
        Case("animated WebP", 415, upload(animated("WEBP"), "a.webp", "image/webp")),
        Case("SVG", 415, upload(svg, "a.svg", "image/svg+xml")),
        Case("HEIC", 415, upload(heic, "a.heic", "image/heic")),
        Case("multi-page TIFF", 415, upload(multipage, "a.tif", "image/tiff")),
        Case("16-bit grayscale PNG", 200, upload(gray16), size=(12, 5)),
        Case("16-bit RGB PNG", 200, upload(png16_rgb(6, 7)), size=(7, 6)),
        Case("CMYK JPEG", 200, upload(cmyk, "a.jpg", "image/jpeg"), size=(14, 10)),
        Case("palette with transparency", 200, upload(palette_with_transparency()), size=(11, 9)),
        Case("LA", 200, upload(la), size=(9, 7)),
        Case("corrupt EXIF", 200, upload(with_corrupt_exif(), "a.jpg"), size=(12, 10)),
        Case("bad ICC profile", 200, upload(bad_icc), size=(6, 6)),
    ]
    for orientation in range(1, 9):
        # Orientations 5-8 turn the picture a quarter: width and height swap.
        size = (10, 24) if orientation >= 5 else (24, 10)
        result.append(
            Case(
                f"EXIF orientation {orientation}",
                200,
                upload(oriented_jpeg(orientation)),
                size=size,
            )
        )
    simulate_params = [
        ("tau", "0"), ("tau", "2"), ("tau", "-0.5"), ("tau", "nan"), ("tau", "abc"),
        ("gamma", "-1"), ("gamma", "inf"), ("format", "gif"), ("quality", "0"),
        ("quality", "101"),
    ]  # fmt: skip
    for name, value in simulate_params:
        result.append(
            Case(f"{name}={value}", 422, upload(PNG), {name: value}, path="/simulate-overexposure")
        )
    for name, value in [("format", "gif"), ("quality", "0"), ("quality", "101"), ("quality", "x")]:
        result.append(Case(f"correct {name}={value}", 422, upload(PNG), {name: value}))
    return result
