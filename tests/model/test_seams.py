"""A smooth gradient stays smooth at full resolution: strips join without steps."""

from __future__ import annotations

import numpy as np
import pytest

import model.pipeline
from model import apply, predict, prepare
from model.tone import MASK_START
from tests.conftest import tiny_generator


def test_smooth_gradient_has_no_steps_at_strip_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    width, height = 2000, 1500
    # Small strips: 1500 rows become 300 strips of 5 rows, each boundary a chance for a seam.
    monkeypatch.setattr(model.pipeline, "STRIP_PIXELS", 5 * width)
    row = np.linspace(60.0, 250.0, width)
    image = np.round(np.stack([row, row * 0.9, row * 0.8], axis=1))[None]
    image = np.repeat(image, height, axis=0).astype(np.uint8)
    canvas = prepare(image, 64)
    assert canvas.downscaled
    (prediction,) = predict(tiny_generator(), canvas.tensor[None], [2.0])
    corrected = apply(image, canvas, prediction).astype(np.int32)
    assert corrected.shape == image.shape
    # Rows of the input are identical; a strip seam would be a step from one row to the next.
    down = np.abs(np.diff(corrected, n=2, axis=0)).max()
    # Along a row, values that may have clipped are filled, which steepens the ramp on purpose;
    # below the clip mask the output is the input through one straight curve, as smooth.
    below = image[0, :, 0] < MASK_START * 255 - 1
    across = np.abs(np.diff(corrected[:, below], n=2, axis=1)).max()
    original = np.abs(np.diff(image[:, below].astype(np.int32), n=2, axis=1)).max()
    assert down <= 2, down
    assert across <= original + 2, (across, original)
