"""Real cameras' overexposure, measured on bracket pairs and carried over to other photos.

For each real pair (an overexposed frame and a good one of the same scene) the least-squares
monotone table from the good frame's codes to the overexposed frame's, shared by R, G and B, is
what that camera and its tone curve did to the scene at the pair's EV: mid-tones lifted, a
shoulder that rolls highlights off, then clipping. Applied to a correctly exposed photo of
another collection, it gives that photo the same overexposure, labelled with the pair's EV.
The synthetic camera family (training.degrade) clips far more than real frames at the same EV
(docs/quality.md, "What real tone curves look like"), so an estimator trained on it alone
takes back too little on real photos.

A shift of the photo's exposure in linear light before the table (a stop brighter: the pair's
EV plus one) fills in the EVs between the pairs'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model import linear_to_srgb, srgb_to_linear
from training.data import load_brackets
from training.oracles import best_curves

CODES = 256
# Past the good frame's brightest code the table follows its slope over this many codes below.
_EXTEND_OVER = 24


@dataclass(frozen=True)
class RealCurve:
    """One pair's response: `table[code of a good photo]` is the code the camera recorded."""

    name: str
    ev: float
    table: np.ndarray  # (256,) uint8, non-decreasing

    def overexpose(self, photo: np.ndarray, shift: float = 0.0) -> tuple[np.ndarray, float]:
        """(`photo` as this camera recorded it `shift` stops further over, its EV)."""
        return self.lookup(shift)[photo], max(0.0, self.ev + shift)

    def lookup(self, shift: float = 0.0) -> np.ndarray:
        """The (256,) table with the exposure shift applied first."""
        if shift == 0.0:
            return self.table
        codes = np.arange(CODES) / (CODES - 1)
        moved = linear_to_srgb(np.minimum(1.0, srgb_to_linear(codes) * 2.0**shift))
        return self.table[np.clip(np.round(moved * (CODES - 1)), 0, CODES - 1).astype(np.intp)]


def response_table(good: np.ndarray, exposed: np.ndarray) -> np.ndarray:
    """The least-squares monotone table from `good`'s codes to `exposed`'s, shared by the
    channels, extended past `good`'s brightest code by the slope just below it."""
    table = best_curves(good, exposed, shared=True)[0].astype(np.float64)
    used = np.flatnonzero(np.bincount(good.reshape(-1), minlength=CODES))
    top = int(used.max())
    if top < CODES - 1:
        low = max(int(used.min()), top - _EXTEND_OVER)
        slope = max(0.0, (table[top] - table[low]) / max(1, top - low))
        table[top + 1 :] = table[top] + slope * np.arange(1, CODES - top)
    return np.asarray(np.clip(np.round(table), 0, CODES - 1), dtype=np.uint8)


def load_real_curves(root: Path, csv_path: Path | None, working_size: int = 512) -> list[RealCurve]:
    """Every pair's response under `root` (input/ and target/), with its EV from the CSV."""
    return [
        RealCurve(pair.name, pair.ev, response_table(pair.target, pair.exposed))
        for pair in load_brackets(root, csv_path, working_size)
    ]
