"""Samples for tuning the generator's tone curve: what the exposure head sees of an overexposed
photo, and what its curve should have made of every code.

A curve is shared by R, G and B and applied code by code, so how well it does on a photo
follows exactly from a few numbers per input code: how many values had that code, and the sum
and sum of squares of their targets (`CurveSample.stats`). A sample keeps those and the head's
thumbnail of the generator canvas, so that tuning never touches a photo again.

Each correctly exposed photo is overexposed in several ways, with its EV:
- `real`: a real bracket train pair's response (training.real_curves), its EV shifted by -0.8
  to +0.5 stops, most often stored as JPEG: how cameras lift mid-tones and roll highlights off;
- `family`: the camera-like family of training.degrade (gammas, sRGB, filmic shoulders);
- `c`: SPEC section 1b (sRGB, JPEG quality 90) at EVs around 0.5, 1 and 1.5;
- `s`: SPEC section 1 (gamma 2.2) at 0.4-1.6 EV, PNG or JPEG;
- `n`: about a third of the photos as they are, stored as JPEG, at EV 0.
The real bracket train pairs themselves are `pair` samples. Validation pairs are refused.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

from model import prepare
from model.generator import thumbnail
from training import oracles
from training.command import command_parser, exit_status
from training.data import load_brackets
from training.degrade import (
    CameraSampler,
    gamma_curve,
    overexpose_camera,
    srgb_curve,
    store_jpeg,
)
from training.estimator_data import collection_of, validation_pairs
from training.photos import find_photos, load_photo
from training.real_curves import RealCurve, load_real_curves

log = logging.getLogger(__name__)

CODES = 256
KINDS = ("pair", "real", "family", "c", "s", "n")


@dataclass(frozen=True)
class CurveSample:
    thumb: np.ndarray  # (3, T, T) float16: the exposure head's view of the canvas
    stats: np.ndarray  # (3, 256) float32: per input code, count, sum and sum of squares of targets
    ev: float
    kind: str
    collection: str


def code_stats(image: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 256): for each code of `image` (all channels pooled, as the curve is shared), how
    many values had it, and the sum and sum of squares of their targets in [0, 1]."""
    stats = oracles.code_stats(image, target)
    scale = np.array([1.0, 1.0 / 255.0, 1.0 / 255.0**2])[:, None]
    pooled = np.stack([stats.count, stats.total, stats.squares]).sum(axis=1)
    return np.asarray(pooled * scale, dtype=np.float32)


def sample(
    image: np.ndarray, target: np.ndarray, ev: float, kind: str, coll: str, size: int
) -> CurveSample:
    """The sample of `image` overexposed `ev` stops from `target`, seen on a `size` canvas."""
    thumb = thumbnail(prepare(image, size).tensor[None])[0].half().numpy()
    return CurveSample(thumb, code_stats(image, target), ev, kind, coll)


def photo_samples(
    photo: np.ndarray, coll: str, curves: Sequence[RealCurve], rng: random.Random, size: int
) -> list[CurveSample]:
    """One photo's samples (see the module docstring)."""
    out: list[CurveSample] = []

    def add(image: np.ndarray, target: np.ndarray, ev: float, kind: str) -> None:
        out.append(sample(image, target, ev, kind, coll, size))

    for _ in range(2):
        curve = rng.choice(curves)
        image, ev = curve.overexpose(photo, rng.uniform(-0.8, 0.5))
        if rng.random() < 0.8:
            image = store_jpeg(image, rng.randint(75, 95))
        add(image, photo, ev, "real")
    camera = CameraSampler()
    ev = rng.uniform(0.2, 2.5)
    balance = np.array([1.0 + rng.uniform(-0.05, 0.05) for _ in range(3)])
    image, target = overexpose_camera(photo, ev, camera.draw_curve(rng), balance)
    if rng.random() < camera.jpeg_prob:
        image = store_jpeg(image, rng.randint(*camera.jpeg_quality))
    add(image, target, ev, "family")
    ev = rng.choice((0.5, 1.0, 1.5)) + rng.uniform(-0.2, 0.2)
    image, target = overexpose_camera(photo, ev, srgb_curve(), np.ones(3))
    add(store_jpeg(image, 90), target, ev, "c")
    ev = rng.uniform(0.4, 1.6)
    image, target = overexpose_camera(photo, ev, gamma_curve(2.2), np.ones(3))
    image = image if rng.random() < 0.5 else store_jpeg(image, 90)
    add(image, target, ev, "s")
    if rng.random() < 0.3:
        add(store_jpeg(photo, 90), photo, 0.0, "n")
    return out


_CURVES: list[RealCurve] = []


def _init(curves: list[RealCurve]) -> None:
    global _CURVES
    torch.set_num_threads(1)  # one process per core
    _CURVES = curves


def _work(job: tuple[int, str, int, int]) -> list[CurveSample]:
    index, path, seed, size = job
    photo = load_photo(Path(path), max_side=size)
    if photo is None:
        return []
    rng = random.Random(seed * 1_000_003 + index)
    return photo_samples(photo, collection_of(Path(path)), _CURVES, rng, size)


def build(
    photos: Sequence[Path],
    brackets: Path,
    pairs_csv: Path,
    size: int = 512,
    seed: int = 0,
    workers: int = 2,
    limit: int | None = None,
) -> list[CurveSample]:
    """Every photo's samples and the bracket pairs' (train split only), for a generator whose
    working size is `size`."""
    pairs = load_brackets(brackets, pairs_csv, size)
    if held := {p.name for p in pairs} & validation_pairs(pairs_csv):
        raise ValueError(f"{brackets} holds pairs outside the train split: {sorted(held)}")
    curves = load_real_curves(brackets, pairs_csv, size)
    samples = [sample(p.exposed, p.target, p.ev, "pair", "brackets", size) for p in pairs]
    files = [str(p) for folder in photos for p in find_photos(folder)][:limit]
    jobs = [(i, path, seed, size) for i, path in enumerate(files)]
    with Pool(workers, initializer=_init, initargs=(curves,)) as pool:
        for done, found in enumerate(pool.imap(_work, jobs, chunksize=8)):
            samples.extend(found)
            if done % 200 == 0:
                log.info("%d/%d photos, %d samples", done, len(files), len(samples))
    return samples


def save(path: Path, samples: Sequence[CurveSample], size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        working_size=np.array(size),
        thumbs=np.stack([s.thumb for s in samples]),
        stats=np.stack([s.stats for s in samples]),
        ev=np.array([s.ev for s in samples], dtype=np.float32),
        kind=np.array([s.kind for s in samples]),
        collection=np.array([s.collection for s in samples]),
    )


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("training.curve_samples", __doc__)
    parser.add_argument("--photos", type=Path, nargs="+", required=True)
    parser.add_argument("--brackets", type=Path, required=True, help="bracket train pairs")
    parser.add_argument("--pairs-csv", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help=".npz cache")
    parser.add_argument("--working-size", type=int, default=512, help="the generator's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, help="only the first N photos")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def body() -> None:
        found = build(
            args.photos,
            args.brackets,
            args.pairs_csv,
            args.working_size,
            args.seed,
            args.workers,
            args.limit,
        )
        save(args.out, found, args.working_size)
        print(f"{len(found)} samples -> {args.out}")

    return exit_status(body)


if __name__ == "__main__":
    raise SystemExit(main())
