"""Where a correction's error sits: in bands of how near the clip each input pixel was.

A correction does different work on different pixels: below the fill's mask the output is the
tone curve alone; in the mask's ramp the curve and the fill blend; where a channel clipped the
fill rebuilds it from the recorded ones; where every channel clipped it can only guess. The
squared error split by those bands says which part to work on, and the same split of an
oracle's error (the best curve fitted to the target) says how much of it any curve leaves.

Each band's figure is its share of the image's squared error: the sum over its pixels of the
mean squared error of their three values (8-bit levels), divided by all the image's pixels, so
the bands add up to the image's mean squared error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.tone import MASK_START

BANDS = (
    "below the mask",
    "in the mask's ramp",
    "some channel clipped",
    "every channel clipped",
)


@dataclass(frozen=True)
class BandErrors:
    """One image: each band's share of its pixels and of its squared error."""

    shares: tuple[float, ...]
    errors: tuple[float, ...]  # 8-bit levels squared, summing to the image's MSE


def band_of_pixels(source: np.ndarray) -> np.ndarray:
    """(H, W) band index (0-3, as BANDS) of each pixel of the (H, W, 3) integer input."""
    if not np.issubdtype(source.dtype, np.integer):
        raise ValueError("band_of_pixels needs an integer image")
    top = int(np.iinfo(source.dtype).max)
    # The first code the fill's mask reaches (model.tone.clip_mask is above 0 from there).
    ramp = math.floor(MASK_START * top) + 1
    brightest, darkest = source.max(axis=2), source.min(axis=2)
    return np.where(
        darkest >= top, 3, np.where(brightest >= top, 2, np.where(brightest >= ramp, 1, 0))
    )


def band_errors(bands: np.ndarray, output: np.ndarray, target: np.ndarray) -> BandErrors:
    """`output` against `target` (both (H, W, 3), the input's integer dtype), split by
    `bands` = band_of_pixels(input), in 8-bit levels. The bands are the input's alone, so one
    map serves every correction of it."""
    scale = 255.0 / float(np.iinfo(target.dtype).max)
    diff = (output.astype(np.float64) - target.astype(np.float64)) * scale
    squared = (diff * diff).mean(axis=2)
    n = float(bands.size)
    counts = np.bincount(bands.ravel(), minlength=len(BANDS))
    sums = np.bincount(bands.ravel(), weights=squared.ravel(), minlength=len(BANDS))
    return BandErrors(
        shares=tuple(float(c) / n for c in counts), errors=tuple(float(s) / n for s in sums)
    )


def format_band_table(found: dict[str, list[BandErrors]], labels: dict[str, str]) -> str:
    """Per row, the mean over images of each band's squared error, and the pixels' shares."""
    first = next(iter(found.values()))
    shares = np.mean([b.shares for b in first], axis=0)
    lines = [
        "Squared error by how near the clip the input pixel was (8-bit levels squared, "
        "adding up to the mean MSE; shares of the pixels: "
        + ", ".join(f"{100 * s:.1f}%" for s in shares)
        + "):",
        "| method | " + " | ".join(BANDS) + " | all |",
        "|---|" + "---:|" * (len(BANDS) + 1),
    ]
    for method, images in found.items():
        errors = np.mean([b.errors for b in images], axis=0)
        cells = " | ".join(f"{e:.1f}" for e in errors)
        lines.append(f"| {labels.get(method, method)} | {cells} | {errors.sum():.1f} |")
    return "\n".join(lines)
