"""The overexposure model of SPEC section 1 and its trivial inverse, for NumPy and torch."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

DEFAULT_TAU = 0.5
DEFAULT_GAMMA = 1.0 / 2.2

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def exposure_gain(tau: float, gamma: float = DEFAULT_GAMMA) -> float:
    """Gain that clipping at `tau` in linear light applies to gamma-encoded values."""
    if not 0.0 < tau <= 1.0:
        raise ValueError("tau must be in (0, 1]")
    if not 0.0 < gamma <= 1.0:
        raise ValueError("gamma must be in (0, 1]")
    return float(tau ** (-gamma))


def overexpose(x: ArrayT, tau: float = DEFAULT_TAU, gamma: float = DEFAULT_GAMMA) -> ArrayT:
    """`min(1, x * tau**-gamma)` for values in [0, 1]: clip in linear light, re-encode."""
    gain = exposure_gain(tau, gamma)
    if isinstance(x, torch.Tensor):
        return (x * gain).clamp(max=1.0)
    return np.minimum(x * np.float32(gain), np.float32(1.0))


def trivial_inverse(y: ArrayT, tau: float = DEFAULT_TAU, gamma: float = DEFAULT_GAMMA) -> ArrayT:
    """`y * tau**gamma`: exact where nothing clipped, flat where it did."""
    gain = 1.0 / exposure_gain(tau, gamma)
    if isinstance(y, torch.Tensor):
        return y * gain
    return y * np.float32(gain)


def overexpose_uint8(
    image: np.ndarray, tau: float = DEFAULT_TAU, gamma: float = DEFAULT_GAMMA
) -> np.ndarray:
    """SPEC section 1 on 8-bit values: float32 arithmetic, round half to even."""
    x = image.astype(np.float32) / np.float32(255.0)
    return np.round(overexpose(x, tau, gamma) * np.float32(255.0)).astype(np.uint8)


# SPEC section 1b: the sRGB transfer functions (IEC 61966-2-1) and camera-like overexposure.
_SRGB_KNEE = 0.04045
_LINEAR_KNEE = 0.0031308


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light (float64)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= _SRGB_KNEE, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] to sRGB-encoded values (float64)."""
    v = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= _LINEAR_KNEE, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def camera_overexpose_uint8(image: np.ndarray, ev: float) -> np.ndarray:
    """SPEC section 1b before storage: `ev` stops brighter in linear light, clipped, sRGB again."""
    if ev < 0:
        raise ValueError("ev must be >= 0")
    linear = srgb_to_linear(image.astype(np.float64) / 255.0)
    return _to_uint8(linear_to_srgb(np.minimum(1.0, linear * 2.0**ev)))


def camera_inverse_uint8(image: np.ndarray, ev: float) -> np.ndarray:
    """SPEC section 1b's told-truth inverse: `ev` stops darker in linear light."""
    linear = srgb_to_linear(image.astype(np.float64) / 255.0)
    return _to_uint8(linear_to_srgb(linear / 2.0**ev))
