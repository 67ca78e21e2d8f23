"""How well a checkpoint's exposure estimator tells how overexposed a photo is.

    python -m training.gain_errors --data DIR --checkpoint CKPT [--taus 0.35 0.5 0.7 1] [--jpeg Q]

Each photo is overexposed at each tau (SPEC section 1), shown to the estimator exactly as the
service shows it (canvas, then thumbnail), and its log-gain is compared with the true one,
`gamma * log(tau)`. The table separates the two ways an estimate goes wrong: a bias (pulled
towards what training saw most) and a spread (photo-to-photo noise). Its last columns say
how often the service reads the gain from the histogram trace instead (`model.gain_trace`:
SPEC's simulation stored losslessly carries one) and the largest error of that reading.
`--jpeg Q` stores each overexposed photo as a JPEG of quality Q first, as most uploads are.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model import DEFAULT_GAMMA, Generator, load_generator, overexpose_uint8, to_canvas
from model.gain_trace import read_gain
from model.generator import thumbnail
from training.photos import find_photos, load_photo


@dataclass(frozen=True)
class GainErrors:
    """Log-gain errors (estimate minus truth) of one tau over a set of photos."""

    tau: float
    photos: int
    bias: float
    spread: float
    mean_abs: float
    traced: int  # photos whose gain the histogram trace gave
    trace_max_abs: float  # largest log-gain error of those readings (nan if none)


@torch.inference_mode()
def estimate_log_gain(generator: Generator, image: np.ndarray) -> float:
    """The estimator's log-gain for one 8-bit RGB photo, as the service computes it."""
    canvas = to_canvas(image, generator.config.working_size, read_trace=False)
    return float(generator.exposure(thumbnail(canvas.tensor[None]))[0])


def gain_errors(
    generator: Generator,
    images: Sequence[np.ndarray],
    taus: Sequence[float],
    gamma: float = DEFAULT_GAMMA,
    jpeg_quality: int | None = None,
) -> list[GainErrors]:
    """Per tau, the errors of the estimator and of the histogram reading over `images`."""
    rows = []
    for tau in taus:
        truth = gamma * math.log(tau)
        exposed = [overexpose_uint8(im, tau, gamma) for im in images]
        if jpeg_quality is not None:
            exposed = [as_jpeg(im, jpeg_quality) for im in exposed]
        errors = np.array([estimate_log_gain(generator, im) - truth for im in exposed])
        traced = [g for g in map(read_gain, exposed) if g is not None]
        trace_errors = [abs(-math.log(g) - truth) for g in traced]
        rows.append(
            GainErrors(
                tau,
                len(errors),
                float(errors.mean()),
                float(errors.std()),
                float(np.abs(errors).mean()),
                len(traced),
                max(trace_errors, default=math.nan),
            )
        )
    return rows


def as_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """The photo after a round trip through a JPEG file of `quality`."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def format_table(rows: Sequence[GainErrors]) -> str:
    lines = [
        "| tau | photos | bias (log-gain) | spread | mean abs error | brightness off by "
        "| read from the histogram | its max abs error |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.tau:g} | {r.photos} | {r.bias:+.3f} | {r.spread:.3f} | {r.mean_abs:.3f} "
            f"| {math.exp(r.bias) - 1:+.1%} | {r.traced} | {r.trace_max_abs:.5f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.gain_errors", description=__doc__.split("\n")[0]
    )
    p.add_argument("--data", type=Path, required=True, help="folder of correctly exposed photos")
    p.add_argument("--checkpoint", type=Path, required=True, help="generator checkpoint")
    p.add_argument("--taus", type=float, nargs="+", default=[0.35, 0.5, 0.7, 1.0])
    p.add_argument("--limit", type=int, help="only the first N photos")
    p.add_argument("--jpeg", type=int, metavar="Q", help="store inputs as JPEG of quality Q")
    args = p.parse_args(argv)
    if not all(0.0 < t <= 1.0 for t in args.taus):
        p.error("every tau must be in (0, 1]")
    if args.jpeg is not None and not 1 <= args.jpeg <= 100:
        p.error("--jpeg must be a quality from 1 to 100")
    try:
        paths = find_photos(args.data)[: args.limit]
    except FileNotFoundError as exc:
        p.error(str(exc))
    generator, _ = load_generator(args.checkpoint)
    loaded = (load_photo(path) for path in paths)
    images = [im for im in loaded if im is not None]
    if not images:
        p.error(f"no readable photos under {args.data}")
    print(format_table(gain_errors(generator, images, args.taus, jpeg_quality=args.jpeg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
