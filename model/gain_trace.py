"""Reading a digital gain back from the gaps it leaves in an 8-bit histogram.

When 8-bit values k are multiplied by a gain g > 1 and rounded back to 8 bits, only the codes
round(k * g) can occur: about one code in g stays empty, in a pattern that fixes g to a few parts
in ten thousand. Photos brightened digitally and stored losslessly (SPEC section 1's simulation,
an editor's exposure slider, `POST /simulate-overexposure`) carry this trace; camera-overexposed
photos (the sensor clipped, then demosaicing, tone curves and JPEG) and photos resized or
JPEG-compressed after the gain do not. So the trace is read only where it is unmistakable, and
otherwise the caller falls back on the generator's learned estimate. Forensics has long used
the same histogram gaps to detect contrast enhancement (Stamm and Liu, "Forensic detection of
image manipulation using statistical intrinsic fingerprints", IEEE TIFS 2010).
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Gains looked for: from the smallest whose gaps are still countable to 2 stops. Not beyond:
# an image stored with 6 bits and widened to 8 looks exactly like a gain of 255 / 63.
MIN_GAIN = 1.02
MAX_GAIN = 4.0
# Candidate gains are this far apart in log: a candidate next to the true gain predicts the
# same codes but for a few near the top (k * g moves by at most 255 * 4 * 5e-5 = 0.05), and the
# exact gain is then pinned down from the codes themselves (`_refine`).
_LOG_STEP = 1e-4
# Values read at most: rows are sampled evenly above this (a subset of the values has a subset
# of the codes, so sampling never creates a false gap; it only thins the evidence).
MAX_VALUES = 1 << 22
# A few stray values (a watermark, a retouched spot) may sit in the gaps.
STRAY_FRACTION = 1e-4
# The evidence needed, within the photo's range of codes: this many empty codes where the gain
# predicts them, where the neighbouring codes say at least MIN_MISSING values would be expected
# without a gain, and most of the codes the gain can produce filled (so sparse histograms, such
# as graphics with few colours, are not read as a gain).
MIN_GAPS = 6
MIN_MISSING = 200.0
MIN_FILLED = 0.6
_CODES = np.arange(1, 255)  # 0 and 255 are where values clip: they say nothing about the gain


@functools.cache
def _table() -> tuple[np.ndarray, np.ndarray]:
    """Candidate gains and, per candidate, a float32 row with 1 for each code in 1..254 that
    the gain cannot produce (float, so scoring all candidates is one matrix-vector product)."""
    gains = np.exp(np.arange(math.log(MIN_GAIN), math.log(MAX_GAIN), _LOG_STEP))
    absent = np.empty((len(gains), len(_CODES)), dtype=np.float32)
    # In chunks: the whole table's float64 intermediates would be ten times its 14 MB.
    for start in range(0, len(gains), 1024):
        absent[start : start + 1024] = ~_produced(gains[start : start + 1024])
    return gains, absent


def _produced(gains: np.ndarray) -> np.ndarray:
    """Per gain, which codes 1..254 SPEC section 1 can produce from 8-bit values, (G, 254)."""
    k = np.arange(256, dtype=np.float64) / 255.0
    codes = np.round(np.minimum(1.0, k[None, :] * gains[:, None]) * 255.0).astype(np.intp)
    produced = np.zeros((len(gains), 256), dtype=bool)
    np.put_along_axis(produced, codes, True, axis=1)
    return np.ascontiguousarray(produced[:, 1:255])


def prepare() -> None:
    """Builds the candidate table (a fraction of a second), so no request waits for it."""
    _table()


def histogram(image: np.ndarray) -> np.ndarray:
    """Counts of each 8-bit code over all channels of an (H, W, C) uint8 image, rows sampled."""
    if image.dtype != np.uint8:
        raise ValueError("expected a uint8 image")
    sampled = image[:: max(1, math.ceil(image.size / MAX_VALUES))]
    rows = max(1, (1 << 18) * len(image) // max(1, image.size))  # about 2^18 values a chunk
    counts = np.zeros(256, dtype=np.int64)
    # A chunk at a time: bincount widens every value to 8 bytes.
    for start in range(0, len(sampled), rows):
        counts += np.bincount(sampled[start : start + rows].reshape(-1), minlength=256)
    return counts


def gain_from_histogram(counts: np.ndarray) -> float | None:
    """The digital gain that explains the histogram's empty codes, or None when none does."""
    counts = np.asarray(counts, dtype=np.float64)
    occupied = counts[1:255] > STRAY_FRACTION * counts.sum()
    if not occupied.any():
        return None
    # Only the occupied range is evidence: outside it every candidate "explains" the empty
    # codes, and the largest gain would win for free.
    bottom, top = (int(c) for c in _CODES[occupied][[0, -1]])
    span = slice(bottom - 1, top)  # codes bottom..top as columns of the table
    gains, absent = _table()
    # Score: empty codes the gain explains minus occupied codes it cannot produce. The true gain
    # explains every empty code and contradicts none; a smaller gain whose gaps happen to fall
    # among them explains fewer, a larger one contradicts many. The grid point next to the true
    # gain may contradict a code or two near the top: `_refine` pins the exact gain down after.
    empty = (~occupied[span]).astype(np.float32)
    score = absent[:, span] @ (2.0 * empty - 1.0)
    gain = _refine(counts, float(gains[int(np.argmax(score))]), occupied)
    if gain is None or not MIN_GAIN <= gain <= MAX_GAIN:
        return None
    return gain if _convincing(counts, gain, span) else None


def _refine(counts: np.ndarray, gain: float, occupied: np.ndarray) -> float | None:
    """The middle of the gains that map each occupied code's source value exactly onto it.

    An occupied code c below 255 came from some k with round(k * g) = c, so g lies in
    [(c - 0.5) / k, (c + 0.5) / k]; k is round(c / gain) for any gain near g, and the
    intersection over all codes is a narrow interval. None when it is empty.
    """
    codes = _CODES[occupied]
    sources = np.round(codes / gain)
    if (sources < 1).any():
        return None
    low = float(((codes - 0.5) / sources).max())
    high = float(((codes + 0.5) / sources).min())
    return (low + high) / 2.0 if low <= high else None


def _convincing(counts: np.ndarray, gain: float, span: slice) -> bool:
    """Whether the gaps the gain predicts are real evidence rather than a sparse histogram."""
    produced = _produced(np.array([gain]))[0][span]
    codes = _CODES[span]
    gap_codes = codes[~produced]
    if len(gap_codes) < MIN_GAPS:
        return False
    # Values in codes the gain cannot produce: only a few strays are tolerated.
    if counts[gap_codes].sum() > STRAY_FRACTION * counts.sum():
        return False
    # What the gaps would hold if nothing had been multiplied: their neighbours' average.
    missing = (counts[gap_codes - 1] + counts[gap_codes + 1]).sum() / 2.0
    filled = (counts[codes[produced]] > 0).mean()
    return bool(missing >= MIN_MISSING and filled >= MIN_FILLED)


def read_gain(image: np.ndarray) -> float | None:
    """The digital gain an (H, W, C) uint8 photo was brightened by, when it shows; else None."""
    if image.dtype != np.uint8 or image.size == 0:
        return None
    return gain_from_histogram(histogram(image))
