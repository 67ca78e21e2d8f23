"""Canvases: exact where a photo is not downscaled, and the same whatever the strip size."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import model.pipeline
from model import Prediction, correct_images, from_canvas, to_canvas
from tests.conftest import tiny_generator


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (37, 61), (5, 64), (64, 64)])
def test_round_trip_is_exact_when_not_downscaled(dtype: type, height: int, width: int) -> None:
    rng = np.random.default_rng(0)
    image: np.ndarray = rng.integers(0, np.iinfo(dtype).max + 1, (height, width, 3)).astype(dtype)
    canvas = to_canvas(image, 64)
    assert canvas.tensor.shape == (3, 64, 64) and not canvas.downscaled
    # Gain 1 leaves no headroom for a fill: the identity, whatever the fill map says.
    identity = Prediction(0.0, torch.rand(3, 64, 64))
    assert np.array_equal(from_canvas(image, canvas, identity), image)


def test_strip_size_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = tiny_generator()
    image = np.random.default_rng(1).integers(0, 256, (150, 97, 3)).astype(np.uint8)
    canvas = to_canvas(image, 64)
    assert canvas.downscaled
    log_gain, fill = generator.predict(canvas.tensor[None])
    prediction = Prediction(float(log_gain), fill[0])
    monkeypatch.setattr(model.pipeline, "STRIP_PIXELS", 1 << 24)
    whole = from_canvas(image, canvas, prediction)
    monkeypatch.setattr(model.pipeline, "STRIP_PIXELS", 200)
    strips = from_canvas(image, canvas, prediction)
    assert np.array_equal(whole, strips)


@pytest.mark.parametrize(("height", "width"), [(40, 50), (300, 170)])
def test_unclipped_values_get_the_exact_gain_and_clipped_ones_a_fill(
    height: int, width: int
) -> None:
    """At any size, values below the clip mask are `value * gain` exactly (the trivial inverse
    with the estimated gain); clipped values land between `gain` and 1, as clipping implies."""
    rng = np.random.default_rng(2)
    image = rng.integers(0, 240, (height, width, 3)).astype(np.uint8)
    image[: height // 3] = 255  # a clipped sky
    canvas = to_canvas(image, 64)
    gain = 0.7
    fill = torch.rand(3, 64, 64)
    out = from_canvas(image, canvas, Prediction(math.log(gain), fill)).astype(np.float64)
    unclipped = image < 240
    expected = np.round(image.astype(np.float64) / 255.0 * gain * 255.0)
    assert np.abs(out[unclipped] - expected[unclipped]).max() <= 1
    clipped = out[image == 255]
    assert clipped.min() >= np.floor(gain * 255) and clipped.max() <= 255
    assert clipped.std() > 1  # the fill map, not one flat value


def test_correct_images_keeps_sizes() -> None:
    images = [np.zeros((h, w, 3), np.uint8) for h, w in [(1, 1), (130, 70), (5, 300)]]
    out = correct_images(tiny_generator(), images, batch_size=2)
    assert [o.shape for o in out] == [i.shape for i in images]
