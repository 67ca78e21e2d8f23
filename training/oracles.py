"""Oracles for real pairs (SPEC section 2, row R): corrections fitted knowing the target.

They bound what a correction family can reach on a pair: one gain for the whole photo, one
monotone tone curve per channel, or one monotone curve shared by R, G and B. Every fit works
on per-channel statistics of the target for each input code (count, sum, sum of squares),
from which the squared error of any 256-entry look-up table follows exactly, rounding included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CODES = 256
# Gains searched, in stops: 1/32 to 4x, a coarse pass then a fine one around its best. The
# error of a rounded gain is piecewise constant in g, so a fine grid finds its optimum.
GAIN_STOPS = (-5.0, 2.0)
COARSE_STEP = 1e-3
FINE_STEP = 1e-5


@dataclass(frozen=True)
class CodeStats:
    """Per channel and input code: pixel count, sum and sum of squares of the target."""

    count: np.ndarray  # (3, 256) float64
    total: np.ndarray
    squares: np.ndarray

    def squared_error(self, luts: np.ndarray) -> np.ndarray:
        """Summed squared error of (..., 3, 256) look-up tables, one value per leading index."""
        luts = np.asarray(luts, dtype=np.float64)
        per_code = self.count * luts**2 - 2.0 * self.total * luts + self.squares
        return np.asarray(per_code.sum(axis=(-2, -1)))


def code_stats(image: np.ndarray, target: np.ndarray) -> CodeStats:
    """`CodeStats` of an (H, W, 3) uint8 input against its (H, W, 3) uint8 target."""
    if image.shape != target.shape or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected two (H, W, 3) images of one size, got {image.shape} and {target.shape}"
        )
    if image.dtype != np.uint8 or target.dtype != np.uint8:
        raise ValueError("expected uint8 images")
    count, total, squares = (np.empty((3, CODES)) for _ in range(3))
    for c in range(3):
        codes = image[..., c].ravel()
        values = target[..., c].ravel().astype(np.float64)
        count[c] = np.bincount(codes, minlength=CODES)
        total[c] = np.bincount(codes, weights=values, minlength=CODES)
        squares[c] = np.bincount(codes, weights=values * values, minlength=CODES)
    return CodeStats(count, total, squares)


def gain_lut(gain: float | np.ndarray) -> np.ndarray:
    """`clip(round(g * code))` for each code: a gain as a look-up table (one row per gain)."""
    g = np.asarray(gain, dtype=np.float64)[..., None]
    return np.clip(np.round(g * np.arange(CODES)), 0, CODES - 1)


def best_gain(image: np.ndarray, target: np.ndarray) -> float:
    """The single gain g for which `clip(round(g * image))` has the highest PSNR to `target`."""
    stats = code_stats(image, target)
    # One gain for all channels: pool the three channels' statistics.
    parts = (stats.count, stats.total, stats.squares)
    pooled = CodeStats(*(a.sum(axis=0, keepdims=True) for a in parts))
    coarse = np.arange(GAIN_STOPS[0], GAIN_STOPS[1] + COARSE_STEP / 2, COARSE_STEP)
    best = _best_stops(pooled, coarse)
    fine = np.arange(best - 2 * COARSE_STEP, best + 2 * COARSE_STEP, FINE_STEP)
    best = _best_stops(pooled, fine)
    return float(2.0**best)


def _best_stops(stats: CodeStats, stops: np.ndarray) -> float:
    """The candidate gain, in stops, whose rounded table has the least squared error."""
    errors = stats.squared_error(gain_lut(2.0**stops)[:, None, :])
    return float(stops[int(np.argmin(errors))])


def isotonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit (pool adjacent violators); weights > 0."""
    means: list[float] = []
    masses: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
        means.append(value)
        masses.append(weight)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            mass = masses[-2] + masses[-1]
            means[-2] = (means[-2] * masses[-2] + means[-1] * masses[-1]) / mass
            masses[-2] = mass
            size = sizes.pop()
            sizes[-1] += size
            means.pop()
            masses.pop()
    return np.repeat(np.asarray(means, dtype=np.float64), sizes)


def _monotone_lut(count: np.ndarray, total: np.ndarray) -> np.ndarray:
    """The best non-decreasing 8-bit table for one channel's statistics, rounded."""
    used = count > 0
    if not used.any():
        return np.arange(CODES, dtype=np.float64)
    codes = np.flatnonzero(used)
    fitted = isotonic(total[used] / count[used], count[used])
    # Codes the input never uses do not change the error; interpolating keeps the table monotone.
    # Rounding an isotonic least-squares fit gives the best integer-valued monotone table.
    return np.asarray(np.round(np.interp(np.arange(CODES), codes, fitted)))


def best_curves(image: np.ndarray, target: np.ndarray, shared: bool = False) -> np.ndarray:
    """(3, 256) uint8 monotone tables fitted to `target`: one per channel, or one for all three.

    Each table is the mean target value per input code, made non-decreasing by weighted
    isotonic regression: the least-squares monotone curve, so no monotone table (the
    identity, any gain) scores a higher PSNR.
    """
    stats = code_stats(image, target)
    if shared:
        lut = _monotone_lut(stats.count.sum(axis=0), stats.total.sum(axis=0))
        return np.repeat(lut[None], 3, axis=0).astype(np.uint8)
    luts = [_monotone_lut(stats.count[c], stats.total[c]) for c in range(3)]
    return np.stack(luts).astype(np.uint8)


def apply_gain(image: np.ndarray, gain: float) -> np.ndarray:
    """`clip(round(gain * image))` as uint8."""
    return apply_curves(image, np.repeat(gain_lut(gain)[None], 3, axis=0).astype(np.uint8))


def apply_curves(image: np.ndarray, luts: np.ndarray) -> np.ndarray:
    """Applies (3, 256) look-up tables, one per channel, to an (H, W, 3) uint8 image."""
    return np.stack([luts[c][image[..., c]] for c in range(3)], axis=-1).astype(np.uint8)


def oracle_outputs(image: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Each oracle's output for one pair, by row key."""
    return {
        "gain_oracle": apply_gain(image, best_gain(image, target)),
        "curve_oracle": apply_curves(image, best_curves(image, target)),
        "shared_curve_oracle": apply_curves(image, best_curves(image, target, shared=True)),
    }
