"""Fuzzing, bounded: the decoder with hypothesis, the HTTP API with schemathesis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from model.photo import (
    ImageError,
    NotAnImage,
    TooManyPixels,
    UnsupportedFormat,
    decode,
    set_pixel_limit,
)
from tests.app.conftest import http, image_bytes, random_image

MAX_PIXELS = 1_000_000
SEEDS = [
    image_bytes(random_image(6, 9), "PNG"),
    image_bytes(random_image(6, 9), "JPEG"),
    image_bytes(random_image(6, 9), "WEBP"),
    image_bytes(random_image(6, 9), "TIFF"),
    image_bytes(random_image(6, 9), "BMP"),
    image_bytes(random_image(6, 9), "GIF"),
    image_bytes(random_image(6, 9, channels=1), "PNG"),
]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def pixel_limit() -> Iterator[None]:
    """Pillow's bomb guard as a service with MAX_PIXELS would set it (process-wide)."""
    before = Image.MAX_IMAGE_PIXELS
    set_pixel_limit(MAX_PIXELS)
    yield
    Image.MAX_IMAGE_PIXELS = before


def decodes_or_refuses(data: bytes) -> None:
    """A photo, or an ImageError of a kind with a client status: never anything else."""
    try:
        image = decode(data, MAX_PIXELS)
    except ImageError as exc:
        assert isinstance(exc, NotAnImage | TooManyPixels | UnsupportedFormat), exc
        assert "accepted" in str(exc)
        return
    height, width, channels = image.color.shape
    assert channels in (1, 3) and height * width <= MAX_PIXELS
    assert image.color.dtype in (np.uint8, np.uint16)
    assert image.alpha is None or image.alpha.shape == (height, width)


@FUZZ
@given(st.binary(max_size=4096))
def test_decoding_random_bytes(data: bytes) -> None:
    decodes_or_refuses(data)


@FUZZ
@given(
    seed=st.sampled_from(SEEDS),
    flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=8),
    cut=st.integers(1, 4096),
)
def test_decoding_damaged_images(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed[:cut])
    for position, value in flips:
        if position < len(data):
            data[position] = value
    decodes_or_refuses(bytes(data))


def test_api_never_answers_5xx(server: str) -> None:
    """Every operation of the served OpenAPI document, with schemathesis' generated requests."""
    schema = schemathesis.openapi.from_dict(http.get(f"{server}/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {"POST /correct", "POST /simulate-overexposure"} <= {op.label for op in operations}
    for operation in operations:

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case[Any]) -> None:
            response = case.call(base_url=server, timeout=30)
            assert response.status_code < 500, f"{case.method} {case.path}: {response.text}"
            if response.status_code >= 400:
                assert "detail" in response.json()

        call()
    assert http.get(f"{server}/healthz").status_code == 200
    assert http.get(f"{server}/readyz").status_code == 200
