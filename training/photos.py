"""Folders of photos, found and read the same way for training and for evaluation."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from model.photo import PHOTO_SUFFIXES, ImageError, read_rgb

log = logging.getLogger(__name__)


def find_photos(root: str | Path) -> list[Path]:
    """Photo files under `root`, recursively, sorted by their path relative to `root`.

    The order is part of the evaluation protocol: SPEC's S2 gives image i of the sorted set
    its tau by position.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"photo folder not found: {root}")
    files = (p for p in root.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def load_photo(path: Path, *, max_side: int | None = None, upscale: int = 1) -> np.ndarray | None:
    """8-bit RGB read as the service reads uploads; None, with a logged warning, if unreadable.

    `max_side` downscales (box filter) so the longer side fits: training sees photos at the
    service's working size. `upscale` enlarges K times (bicubic): evaluation at high resolution.
    """
    try:
        rgb = Image.fromarray(read_rgb(path.read_bytes()))
    except (OSError, ImageError) as exc:
        log.warning("skipping unreadable photo %s: %s", path, exc)
        return None
    if max_side is not None and max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BOX)
    if upscale > 1:
        rgb = rgb.resize((rgb.width * upscale, rgb.height * upscale), Image.Resampling.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8).copy()
