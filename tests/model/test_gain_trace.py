"""Reading a digital gain from its histogram trace: exact when it shows, silent when it does not."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

import model.gain_trace
from model import Prediction, exposure_gain, from_canvas, overexpose_uint8, to_canvas
from model.gain_trace import MAX_GAIN, histogram, read_gain


def photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A photo-like 8-bit image: smooth shading over every level, plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = 127.5 + 120 * np.sin(xx / 17.0 + seed) * np.cos(yy / 23.0)
    channels = [base + 8 * c + rng.normal(0, 6, base.shape) for c in range(3)]
    return np.clip(np.round(np.stack(channels, axis=2)), 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int = 95) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


@pytest.mark.parametrize(
    ("tau", "gamma"),
    [(0.35, 1 / 2.2), (0.5, 1 / 2.2), (0.7, 1 / 2.2), (0.9, 1 / 2.2), (0.6, 1.0), (0.2, 0.5)],
)
def test_spec_overexposure_gives_its_gain_back(tau: float, gamma: float) -> None:
    gain = read_gain(overexpose_uint8(photo(), tau, gamma))
    assert gain is not None
    assert gain == pytest.approx(exposure_gain(tau, gamma), rel=1e-3)


@pytest.mark.parametrize("seed", range(4))
def test_an_untouched_photo_shows_no_gain(seed: int) -> None:
    assert read_gain(photo(seed=seed)) is None


@pytest.mark.parametrize(
    "after",
    [
        pytest.param(lambda y: jpeg(y, 95), id="jpeg"),
        pytest.param(lambda y: np.asarray(Image.fromarray(y).resize((85, 64))), id="resized"),
    ],
)
def test_the_trace_does_not_survive_lossy_steps(after: object) -> None:
    assert callable(after)
    assert read_gain(after(overexpose_uint8(photo(), 0.5))) is None


def test_a_graphic_with_few_colours_is_not_read_as_a_gain() -> None:
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    graphic = palette[rng.integers(0, 6, (64, 64))]
    assert read_gain(graphic) is None
    assert read_gain(overexpose_uint8(graphic, 0.5)) is None


def test_gains_beyond_the_range_are_not_read() -> None:
    # 6-bit values widened to 8 bits look exactly like a gain of 255 / 63: out of range.
    six_bit = np.round(np.round(photo().astype(np.float64) / 255 * 63) * 255 / 63)
    assert MAX_GAIN < 255 / 63
    assert read_gain(six_bit.astype(np.uint8)) is None


def test_a_few_stray_values_do_not_hide_the_gain() -> None:
    exposed = overexpose_uint8(photo(192, 256), 0.5).copy()
    # Two pixels (6 values) in each of two codes a gain of 1.37 cannot produce: 8e-5 of all.
    exposed[0, :2] = 2
    exposed[1, :2] = 6
    gain = read_gain(exposed)
    assert gain == pytest.approx(exposure_gain(0.5), rel=1e-3)


def test_other_dtypes_and_empty_images_give_none() -> None:
    assert read_gain(photo().astype(np.uint16) * 257) is None
    assert read_gain(np.zeros((0, 0, 3), np.uint8)) is None
    assert read_gain(np.full((8, 8, 3), 255, np.uint8)) is None


def test_row_sampling_keeps_the_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    exposed = overexpose_uint8(photo(), 0.35)
    full = histogram(exposed)
    assert np.array_equal(full, np.bincount(exposed.reshape(-1), minlength=256))
    monkeypatch.setattr(model.gain_trace, "MAX_VALUES", exposed.size // 4)
    sampled = histogram(exposed)
    assert sampled.sum() < full.sum() // 3
    assert not (sampled[full == 0]).any()  # sampling never fills a gap
    assert read_gain(exposed) == pytest.approx(exposure_gain(0.35), rel=1e-3)


def test_the_pipeline_undoes_a_traced_gain_whatever_the_estimate() -> None:
    truth = photo()
    exposed = overexpose_uint8(truth, 0.5)
    canvas = to_canvas(exposed, 128)
    assert canvas.traced_gain == pytest.approx(exposure_gain(0.5), rel=1e-3)
    wrong = Prediction(math.log(0.5), torch.full((3, 128, 128), 0.5))
    corrected = from_canvas(exposed, canvas, wrong).astype(np.int32)
    unclipped = exposed < 245  # below the fill mask (MASK_START)
    # Where nothing clipped, the exact inverse: the truth back within rounding.
    assert np.abs(corrected - truth.astype(np.int32))[unclipped].max() <= 1
    # Without the trace, the (wrong) estimate is what gets applied.
    blind = to_canvas(exposed, 128, read_trace=False)
    assert blind.traced_gain is None
    darker = from_canvas(exposed, blind, wrong).astype(np.int32)
    ratio = darker[unclipped].mean() / corrected[unclipped].mean()
    assert ratio == pytest.approx(0.5 * exposure_gain(0.5), abs=0.01)
