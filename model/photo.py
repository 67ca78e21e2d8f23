"""Photo files <-> arrays: formats, EXIF orientation, ICC profiles, alpha, grayscale and 16-bit.

The one reader and writer of photos: the service, the command line and evaluation all use it.
Bad input raises an ImageError whose message says what is accepted; HTTP statuses are app/'s.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Pillow format name -> default output family (lossless inputs come back as PNG).
_FAMILY = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "TIFF": "png", "BMP": "png", "WEBP": "webp"}
OUTPUT_FORMATS = ("jpeg", "png", "webp")
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
DEFAULT_QUALITY = 90
ACCEPTED_INPUT = "JPEG, PNG, WebP, TIFF or BMP"
# File extensions of photos picked up inside folders (by the command line and by training).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})
_GRAY_MODES = {"1", "L", "LA", "La"}
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_UINT16_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
# Pixels leave Pillow in strips of about this many bytes (bounds the extra copy of a big photo).
_STRIP_BYTES = 1 << 22


class ImageError(ValueError):
    """A photo that cannot be read or written; the message says what is accepted."""


class NotAnImage(ImageError):
    """The bytes are not a decodable image (empty, garbage, truncated or corrupt)."""


class TooManyPixels(ImageError):
    """The image has more pixels than the limit allows."""


class UnsupportedFormat(ImageError):
    """A real image, in a format (or a variant of one) that is not accepted."""


class CannotEncode(ImageError):
    """The requested output format cannot hold this image."""


@dataclass
class DecodedImage:
    """A photo as arrays: colour (H, W, 1 or 3) and alpha (H, W), both uint8 or uint16."""

    color: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None
    family: str  # the default output format

    @property
    def gray(self) -> bool:
        return int(self.color.shape[2]) == 1


# Load every Pillow plugin now, so that `formats=` below can name MPO, WebP and TIFF.
Image.init()
_INPUT_FORMATS = [name for name in _FAMILY if name in Image.OPEN]


def set_pixel_limit(max_pixels: int) -> None:
    """Sets Pillow's decompression-bomb guard (a process-wide setting) to `max_pixels`."""
    Image.MAX_IMAGE_PIXELS = max_pixels


def _too_many_pixels(width: int, height: int, max_pixels: int) -> TooManyPixels:
    return TooManyPixels(
        f"the image has {width}x{height} = {width * height} pixels; "
        f"accepted: at most {max_pixels} pixels (EXPOSURE_MAX_PIXELS)"
    )


def _unsupported(what: str) -> UnsupportedFormat:
    return UnsupportedFormat(f"{what} is not a supported image format; accepted: {ACCEPTED_INPUT}")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Opens the header only, restricted to the accepted formats."""
    try:
        return Image.open(io.BytesIO(data), formats=_INPUT_FORMATS)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"{exc}; accepted: at most {max_pixels} pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        pass
    # Not an accepted format: tell a known but unsupported image (415) from garbage (400).
    try:
        with Image.open(io.BytesIO(data)) as other:
            name = other.format or "this image format"
    except Exception:
        head = data[:512].lstrip().lower()
        if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
            raise _unsupported("SVG") from None
        if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
            raise _unsupported("HEIF/AVIF") from None
        raise NotAnImage(
            f"the upload is not a decodable image; accepted: {ACCEPTED_INPUT}"
        ) from None
    raise _unsupported(name)


def decode(data: bytes, max_pixels: int) -> DecodedImage:
    """Decodes an upload, checking its pixel count from the header before any pixel is read."""
    if not data:
        raise NotAnImage(f"the 'image' field is empty; accepted: {ACCEPTED_INPUT}")
    with _open(data, max_pixels) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise _too_many_pixels(width, height, max_pixels)
        # MPO is a camera JPEG with extra pictures (previews, stereo): its first one is the photo.
        if getattr(image, "is_animated", False) and image.format != "MPO":
            raise UnsupportedFormat(
                f"animated or multi-page {image.format} images are not supported; "
                f"accepted: a single-frame {ACCEPTED_INPUT} image"
            )
        family = _FAMILY[str(image.format)]
        icc = _valid_profile(image.info.get("icc_profile"))
        try:
            # In place: a copy of a 24 MP photo costs 96 MB, and a rotated one replaces it.
            ImageOps.exif_transpose(image, in_place=True)
            color, alpha = _to_arrays(image)
        except ImageError:
            raise
        except Image.DecompressionBombError as exc:
            raise TooManyPixels(str(exc)) from exc
        except Exception as exc:  # Pillow raises many types for corrupt or truncated data
            raise NotAnImage(
                f"the {image.format} image could not be decoded ({exc}); "
                f"accepted: a complete, valid {ACCEPTED_INPUT} file"
            ) from exc
    return DecodedImage(color, alpha, icc, family)


def _valid_profile(icc: object) -> bytes | None:
    """The ICC profile if littleCMS can read it: a broken one is dropped, not passed on."""
    if not isinstance(icc, bytes) or not icc:
        return None
    try:
        ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return None
    return icc


def _to_arrays(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour (H, W, C) and alpha (H, W) arrays; 16-bit grayscale keeps its 16 bits."""
    mode = image.mode
    if mode in _UINT16_MODES or mode == "I":
        # 16-bit grayscale (Pillow has no 16-bit RGB mode; such files arrive as 8-bit RGB).
        values = np.array(image)
        return np.clip(values, 0, 65535).astype(np.uint16)[..., None], None
    if mode == "F":
        raise _unsupported("32-bit floating-point grayscale")
    has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    gray = mode in _GRAY_MODES or (mode == "P" and _gray_palette(image))
    target = ("LA" if has_alpha else "L") if gray else ("RGBA" if has_alpha else "RGB")
    array = _pixels(image if image.mode == target else image.convert(target))
    if gray:
        array = array[..., None] if array.ndim == 2 else array
    color, alpha = (array[..., :-1], array[..., -1]) if has_alpha else (array, None)
    return np.ascontiguousarray(color), None if alpha is None else np.ascontiguousarray(alpha)


def _pixels(image: Image.Image) -> np.ndarray:
    """A new writable uint8 array of the pixels, copied a strip of rows at a time.

    np.array(image) would hold the photo three times at once (Pillow's copy, the bytes from
    tobytes() and the array); strips hold it twice and one strip. Writable, because torch warns
    on (and must not write to) Pillow's read-only buffers.
    """
    width, height = image.size
    bands = len(image.getbands())
    array = np.empty((height, width, bands) if bands > 1 else (height, width), np.uint8)
    rows = max(1, _STRIP_BYTES // max(1, width * bands))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        array[top:bottom] = np.asarray(image.crop((0, top, width, bottom)))
    return array


def _gray_palette(image: Image.Image) -> bool:
    palette = image.getpalette() or []
    rgb = np.asarray(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())


def to_8bit(values: np.ndarray) -> np.ndarray:
    """Rounds 16-bit values to 8 bits (65535 -> 255); 8-bit values pass through."""
    if values.dtype == np.uint8:
        return values
    return np.round(values.astype(np.float32) / np.float32(257.0)).astype(np.uint8)


def _keep_profile(icc: bytes | None, mode: str) -> bytes | None:
    """The ICC profile if it describes the output's colour space (a CMYK one never does)."""
    wanted = b"GRAY" if mode in ("L", "LA", "I;16") else b"RGB "
    return icc if icc is not None and icc[16:20] == wanted else None


def encode(
    color: np.ndarray,
    alpha: np.ndarray | None,
    icc_profile: bytes | None,
    fmt: str,
    quality: int | None = None,
) -> bytes:
    """Encodes arrays as `fmt` (jpeg, png, webp); 16 bits survive only as grayscale PNG."""
    gray = int(color.shape[2]) == 1
    if fmt == "png" and color.dtype == np.uint16 and gray and alpha is None:
        image = Image.fromarray(color[..., 0])
    else:
        color8 = to_8bit(color)
        if gray and fmt == "webp":  # WebP has no grayscale mode
            color8 = np.repeat(color8, 3, axis=2)
        if alpha is not None and fmt != "jpeg":  # JPEG cannot keep alpha
            color8 = np.concatenate([color8, to_8bit(alpha)[..., None]], axis=2)
        planes = int(color8.shape[2])
        image = Image.fromarray(color8[..., 0] if planes == 1 else color8)
    options: dict[str, object] = {}
    profile = _keep_profile(icc_profile, image.mode)
    if profile is not None:
        options["icc_profile"] = profile
    if fmt == "jpeg":
        options.update(quality=quality or DEFAULT_QUALITY)
    elif fmt == "webp":
        options.update(quality=quality or DEFAULT_QUALITY, method=4)
    else:
        options.update(compress_level=4)
    out = io.BytesIO()
    image.save(out, format=fmt.upper(), **options)
    return out.getvalue()


# Largest side each output format can hold.
_MAX_SIDE = {"jpeg": 65_535, "webp": 16_383, "png": 2**31 - 1}


def check_encodable(shape: tuple[int, ...], fmt: str) -> None:
    """Raises CannotEncode when format `fmt` cannot hold an image of this size, before any work."""
    height, width = shape[:2]
    if max(height, width) > _MAX_SIDE[fmt]:
        raise CannotEncode(
            f"format {fmt} holds at most {_MAX_SIDE[fmt]} pixels a side, the image is "
            f"{width}x{height}; accepted: format=png"
        )


def read_rgb(data: bytes, max_pixels: int = 1 << 40) -> np.ndarray:
    """A photo file's bytes as (H, W, 3) uint8 RGB, decoded as the service decodes uploads
    (EXIF orientation applied; grayscale repeated, 16 bits rounded, alpha dropped)."""
    color = to_8bit(decode(data, max_pixels).color)
    return np.repeat(color, 3, axis=2) if int(color.shape[2]) == 1 else color
