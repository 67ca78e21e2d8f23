"""Canvases: exact where a photo is not downscaled, and the same whatever the strip size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import model.pipeline
from model import correct_images, from_canvas, to_canvas
from tests.conftest import tiny_generator


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (37, 61), (5, 64), (64, 64)])
def test_round_trip_is_exact_when_not_downscaled(dtype: type, height: int, width: int) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, np.iinfo(dtype).max + 1, (height, width, 3)).astype(dtype)
    canvas = to_canvas(image, 64)
    assert canvas.tensor.shape == (3, 64, 64) and not canvas.downscaled
    assert np.array_equal(from_canvas(image, canvas, canvas.tensor.clone()), image)


def test_strip_size_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = tiny_generator()
    image = np.random.default_rng(1).integers(0, 256, (150, 97, 3)).astype(np.uint8)
    canvas = to_canvas(image, 64)
    assert canvas.downscaled
    with torch.no_grad():
        output = generator(canvas.tensor[None])[0]
    monkeypatch.setattr(model.pipeline, "STRIP_PIXELS", 1 << 24)
    whole = from_canvas(image, canvas, output.clone())
    monkeypatch.setattr(model.pipeline, "STRIP_PIXELS", 200)
    strips = from_canvas(image, canvas, output.clone())
    assert np.array_equal(whole, strips)


def test_correct_images_keeps_sizes() -> None:
    images = [np.zeros((h, w, 3), np.uint8) for h, w in [(1, 1), (130, 70), (5, 300)]]
    out = correct_images(tiny_generator(), images, batch_size=2)
    assert [o.shape for o in out] == [i.shape for i in images]
