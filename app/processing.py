"""Array work between decoding and encoding: canvases for the generator, and the simulation."""

from __future__ import annotations

import numpy as np

from model import Canvas, Prediction, apply, overexpose, overexpose_uint8, prepare


def make_canvas(color: np.ndarray, working_size: int) -> Canvas:
    """The generator canvas of an (H, W, 1 or 3) photo; grayscale is seen as equal RGB."""
    return prepare(_as_rgb(color), working_size)


def finish_correction(color: np.ndarray, canvas: Canvas, prediction: Prediction) -> np.ndarray:
    """Applies the generator's prediction at full size, in the photo's channels and dtype."""
    result: np.ndarray = apply(_as_rgb(color), canvas, prediction)
    if int(color.shape[2]) == 3:
        return result
    # Grayscale in, grayscale out: the channel mean, rounded.
    total = result.astype(np.uint32).sum(axis=2, keepdims=True)
    gray: np.ndarray = ((total + 1) // 3).astype(color.dtype)
    return gray


def simulate_overexposure(color: np.ndarray, tau: float, gamma: float) -> np.ndarray:
    """SPEC section 1 on 8- or 16-bit values: float32, then round half to even."""
    if color.dtype == np.uint8:
        return overexpose_uint8(color, tau, gamma)
    scale = np.float32(np.iinfo(color.dtype).max)
    values = overexpose(color.astype(np.float32) / scale, tau, gamma)
    return np.round(values * scale).astype(color.dtype)


def _as_rgb(color: np.ndarray) -> np.ndarray:
    return np.repeat(color, 3, axis=2) if int(color.shape[2]) == 1 else color
