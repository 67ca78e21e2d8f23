"""The photo codec under its former name, for the benchmarks that import it from here.

The codec itself is model.photo; app/ maps its errors to HTTP statuses in app.errors.
"""

from model.photo import CONTENT_TYPES, DecodedImage, decode, encode, set_pixel_limit

__all__ = ["CONTENT_TYPES", "DecodedImage", "decode", "encode", "set_pixel_limit"]
