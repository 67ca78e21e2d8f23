"""Overexposure as cameras and uploads produce it (SPEC section 1b), drawn as a family.

A correctly exposed photo is taken back to linear light through a camera tone curve, made
`ev` stops brighter with a small white-balance shift, clipped where the sensor saturates,
encoded again with the same curve and, most of the time, stored as a JPEG. The curve is drawn
from pure gammas (SPEC section 1's simulation is the gamma 2.2 member), sRGB, and filmic
curves with a toe and a highlight shoulder, because a real camera's curve is never known; the
EV is often 0, because most photos a hosting backend sees are not overexposed at all and the
model must learn to leave those alone.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from model import linear_to_srgb, srgb_to_linear
from model.photo import read_rgb

# Linear-light samples on which a drawn curve is tabulated and inverted.
_GRID = np.linspace(0.0, 1.0, 4097) ** 2  # denser near black, where curves are steep


@dataclass(frozen=True)
class ToneCurve:
    """A monotone camera curve from linear light to encoded values, tabulated on _GRID."""

    encoded: np.ndarray  # the curve's values at _GRID, from 0 to 1

    def encode(self, linear: np.ndarray) -> np.ndarray:
        encoded: np.ndarray = np.interp(linear, _GRID, self.encoded)
        return encoded

    def decode(self, encoded: np.ndarray) -> np.ndarray:
        linear: np.ndarray = np.interp(encoded, self.encoded, _GRID)
        return linear


def gamma_curve(gamma: float) -> ToneCurve:
    return ToneCurve(_GRID ** (1.0 / gamma))


def srgb_curve() -> ToneCurve:
    return ToneCurve(linear_to_srgb(_GRID))


def filmic_curve(gamma: float, toe: float, shoulder: float) -> ToneCurve:
    """A gamma, a toe (power > 1 near black) and a rational highlight shoulder
    `(1 + k) v / (v + k)`, which compresses highlights more the smaller `k` is."""
    v = (_GRID ** (1.0 / gamma)) ** toe
    return ToneCurve((1.0 + shoulder) * v / (v + shoulder))


@dataclass(frozen=True)
class CameraSampler:
    """How overexposure is drawn for one training sample."""

    zero_ev_prob: float = 0.35  # share of photos left as they were
    max_ev: float = 2.5  # the rest: EV uniform in (0, max_ev]
    jpeg_prob: float = 0.75  # stored as JPEG, else losslessly
    jpeg_quality: tuple[int, int] = (60, 98)
    white_balance: float = 0.05  # per-channel gain in linear light, 1 +- this
    downscale_prob: float = 0.3  # photo resized to 50-100% before everything else

    def __post_init__(self) -> None:
        if not 0.0 <= self.zero_ev_prob <= 1.0 or not 0.0 <= self.jpeg_prob <= 1.0:
            raise ValueError("probabilities must be in [0, 1]")
        if not 0.0 < self.max_ev <= 4.0:
            raise ValueError("max_ev must be in (0, 4]")

    def draw_ev(self, rng: random.Random) -> float:
        if rng.random() < self.zero_ev_prob:
            return 0.0
        return rng.uniform(0.0, self.max_ev)

    def draw_curve(self, rng: random.Random) -> ToneCurve:
        kind = rng.random()
        if kind < 0.3:
            return gamma_curve(rng.uniform(1.8, 2.6))
        if kind < 0.55:
            return srgb_curve()
        # Shoulders no stronger than k = 1.5. Real cameras' are stronger: the best curves
        # fitted to the real bracket pairs (train split) sit above sRGB's inverse at code 240
        # for 95% of the pairs and land clipped white at 0.87 (`python -m
        # training.curve_study`, docs/quality.md), a convexity this family does not reach.
        return filmic_curve(rng.uniform(2.0, 2.4), rng.uniform(1.0, 1.3), rng.uniform(1.5, 6.0))


def overexpose_camera(
    photo: np.ndarray, ev: float, curve: ToneCurve, white_balance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(overexposed, target) as 8-bit: the same camera at `ev` stops over and at the right
    exposure. The white balance shifts both, so that it moves where channels clip without
    asking the model to correct colour."""
    # Every output value depends only on its input code and channel: a (256, 3) table each.
    linear = curve.decode(np.arange(256) / 255.0)[:, None] * white_balance[None, :]
    target = _to_uint8(curve.encode(np.minimum(1.0, linear)))
    exposed = _to_uint8(curve.encode(np.minimum(1.0, linear * 2.0**ev)))
    channels = np.arange(3)
    return exposed[photo, channels], target[photo, channels]


def store_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """The image after a round trip through a JPEG file (Pillow's defaults otherwise)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return read_rgb(buffer.getvalue())


def downscale(image: np.ndarray, factor: float) -> np.ndarray:
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def estimate_pair_ev(exposed: np.ndarray, target: np.ndarray) -> float:
    """Stops between two frames of a bracket: the median linear-light ratio over values that
    are well exposed in both (as sRGB: the frames' own curves are unknown)."""
    a, b = exposed.astype(np.float64), target.astype(np.float64)
    usable = (a > 8) & (a < 245) & (b > 8) & (b < 245)
    if usable.sum() < 100:
        return 0.0
    ratio = srgb_to_linear(a[usable] / 255.0) / srgb_to_linear(b[usable] / 255.0)
    return float(np.clip(np.log2(np.median(ratio)), 0.0, 4.0))


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
