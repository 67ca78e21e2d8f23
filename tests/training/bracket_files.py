"""Small generated photos and bracket pair folders for the training commands' tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def ramp_photo(seed: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A tinted left-to-right ramp with a little noise: an ordinary, well-exposed 8-bit photo."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.15, 0.75, width)[None, :, None] * rng.uniform(0.6, 1.0, 3)
    noise = rng.normal(0.0, 0.03, (height, width, 3))
    return np.clip(np.round((ramp + noise) * 255), 0, 255).astype(np.uint8)


def write_pair(pairs: Path, name: str, target: np.ndarray) -> None:
    """`pairs/input/NAME.png`, the target one stop brighter and clipped, and its target."""
    for sub in ("input", "target"):
        (pairs / sub).mkdir(parents=True, exist_ok=True)
    exposed = np.clip(target.astype(int) * 2, 0, 255).astype(np.uint8)
    Image.fromarray(exposed).save(pairs / "input" / f"{name}.png")
    Image.fromarray(target).save(pairs / "target" / f"{name}.png")
