"""SPEC section 2's evaluation cases: simulated scenarios on ground-truth photos, and real pairs.

A `Case` is one image as a client would send it (decoded, and the bytes it would upload), what
its output is scored against, the told-truth baseline where one exists, and its true EV. The
evaluation CLI, the contact sheet and the HTTP benchmark all read the same cases.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from model import camera_inverse_uint8, camera_overexpose_uint8, overexpose_uint8, trivial_inverse
from model.photo import PHOTO_SUFFIXES, read_rgb
from training.photos import find_photos, load_photo

SCENARIOS = ("s1", "s2", "j1", "j2", "c", "n")
S2_TAUS = (0.35, 0.5, 0.7)
C_EVS = (0.5, 1.0, 1.5)
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Case:
    """One evaluation image: the degraded input, its reference and its told-truth baseline."""

    name: str
    input: np.ndarray  # (H, W, 3) uint8, as the service decodes the upload
    truth: np.ndarray  # what an output is scored against: the original photo, or a pair's target
    ev: float | None  # true stops of overexposure; None where unknown
    baseline: np.ndarray | None = None  # SPEC's "told-truth inverse"; None for real pairs
    stored: bytes | None = None  # the exact bytes to upload; None: the input as PNG
    suffix: str = ".png"  # file suffix of `stored`

    def upload(self) -> bytes:
        """The input as a client sends it: the stored file, else the array as lossless PNG."""
        if self.stored is not None:
            return self.stored
        buffer = io.BytesIO()
        Image.fromarray(self.input).save(buffer, format="PNG")
        return buffer.getvalue()


def jpeg_round_trip(image: np.ndarray, quality: int = JPEG_QUALITY) -> tuple[bytes, np.ndarray]:
    """The image stored as JPEG (Pillow defaults but quality), and those bytes decoded again."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    data = buffer.getvalue()
    return data, decode(data)


def decode(data: bytes) -> np.ndarray:
    """Image file bytes to (H, W, 3) uint8 RGB, EXIF orientation applied as the service does."""
    return read_rgb(data)


def scenario_tau(scenario: str, index: int) -> float:
    """SPEC section 1's clip level of image `index` under S1/J1 (0.5) or S2/J2 (cycling)."""
    if scenario in ("s1", "j1"):
        return 0.5
    if scenario in ("s2", "j2"):
        return S2_TAUS[index % len(S2_TAUS)]
    raise ValueError(f"scenario {scenario!r} has no tau; expected one of s1, s2, j1, j2")


def inverse_uint8(image: np.ndarray, tau: float) -> np.ndarray:
    """SPEC section 1's trivial inverse on 8-bit values: float32, round half to even, clipped."""
    x = trivial_inverse(image.astype(np.float32) / np.float32(255.0), tau)
    return np.clip(np.round(x * np.float32(255.0)), 0, 255).astype(np.uint8)


def make_case(scenario: str, index: int, photo: np.ndarray, name: str = "") -> Case:
    """Image `index` of a sorted set degraded as SPEC section 2's `scenario` says."""
    if scenario == "n":
        data, decoded = jpeg_round_trip(photo)
        return Case(name, decoded, photo, 0.0, decoded, data, ".jpg")
    if scenario == "c":
        ev = C_EVS[index % len(C_EVS)]
        data, decoded = jpeg_round_trip(camera_overexpose_uint8(photo, ev))
        return Case(name, decoded, photo, ev, camera_inverse_uint8(decoded, ev), data, ".jpg")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    tau = scenario_tau(scenario, index)
    ev = math.log2(1.0 / tau)
    exposed = overexpose_uint8(photo, tau)
    if scenario in ("s1", "s2"):
        return Case(name, exposed, photo, ev, inverse_uint8(exposed, tau))
    data, decoded = jpeg_round_trip(exposed)
    return Case(name, decoded, photo, ev, inverse_uint8(decoded, tau), data, ".jpg")


def load_photos(
    data: Path, limit: int | None = None, upscale: int = 1
) -> list[tuple[str, np.ndarray]]:
    """The readable photos under `data` in SPEC's sorted order, named by their relative path."""
    paths = find_photos(data)[:limit]
    photos = [(p.relative_to(data).as_posix(), load_photo(p, upscale=upscale)) for p in paths]
    found = [(name, img) for name, img in photos if img is not None]
    if not found:
        raise ValueError(f"no readable photos ({', '.join(sorted(PHOTO_SUFFIXES))}) under {data}")
    return found


def scenario_cases(scenario: str, photos: Sequence[tuple[str, np.ndarray]]) -> Iterator[Case]:
    """The cases of one scenario, made one at a time (image i gets the i-th degradation)."""
    for index, (name, photo) in enumerate(photos):
        yield make_case(scenario, index, photo, name)


def read_pair_evs(path: Path) -> dict[str, float]:
    """The `ev` column of a pairs.csv, by the `name` column."""
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    if rows and not {"name", "ev"} <= set(rows[0]):
        raise ValueError(f"{path} needs the columns 'name' and 'ev'")
    return {row["name"]: float(row["ev"]) for row in rows if row["ev"].strip()}


def _by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"pairs folder has no {folder.name}/: {folder}")
    files = (p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    return {p.stem: p for p in sorted(files)}


def pair_cases(
    pairs: Path, evs: dict[str, float] | None = None, limit: int | None = None
) -> Iterator[Case]:
    """Real pairs `input/NAME.*` and `target/NAME.*`, matched by stem, in name order.

    The input is uploaded exactly as stored; `evs` (from `read_pair_evs`) gives the true EV.
    """
    inputs, targets = _by_stem(pairs / "input"), _by_stem(pairs / "target")
    names = sorted(inputs.keys() & targets.keys())[:limit]
    if not names:
        raise ValueError(f"no input/ and target/ files with matching names under {pairs}")
    for name in names:
        stored = inputs[name].read_bytes()
        image, target = decode(stored), decode(targets[name].read_bytes())
        if image.shape != target.shape:
            raise ValueError(f"pair {name}: input {image.shape} and target {target.shape} differ")
        ev = None if evs is None else evs.get(name)
        yield Case(name, image, target, ev, stored=stored, suffix=inputs[name].suffix.lower())
