"""Smooth highlights that clip: the scenes where a fill shows its colour bands and grey patches.

    python -m training.highlights [--checkpoint CKPT] [--sheet highlights.png]

Each scene is a correctly exposed picture whose brightest part is a smooth highlight: gradients
of one hue (warm grey, cool, green), a sun in a blue sky, a lit cheek, a white wall beside a
darker one. Overexposed by SPEC section 1 (tau 0.5, 1 EV) and by section 1b (+1 EV, JPEG
quality 90), each is corrected told its EV, and scored against the original where it matters:

- chroma error: the distance in CIELAB's a*b* plane between output and original, its 99th
  percentile over the pixels where any channel clipped (a colour band is a run of such pixels);
- step: the largest luminance difference between neighbouring pixels there, in 8-bit levels,
  less the original's own largest (a posterised edge or the rim of a flat patch);
- where every channel clipped: the output's mean L* against the original's (a grey patch reads
  as a large negative difference).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model import correct_images, load_generator
from model.checkpoint import SHIPPED_CHECKPOINT
from model.exposure import camera_overexpose_uint8, overexpose_uint8
from model.generator import Generator
from training.contact_sheet import contact_sheet, sheet_row
from training.metrics import srgb_to_lab
from training.scenarios import jpeg_round_trip

HEIGHT, WIDTH = 192, 320
# Where a channel counts as clipped in the overexposed input (JPEG spreads clipped areas down to
# about 250).
CLIPPED = 250


def _to_uint8(image: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    return out


def gradient(colour: tuple[float, float, float]) -> np.ndarray:
    """A left-to-right ramp of one colour from dark to its full brightness, slightly shaded
    top to bottom so no two rows are equal."""
    level = np.linspace(0.15, 1.0, WIDTH)[None, :, None]
    shade = np.linspace(0.92, 1.0, HEIGHT)[:, None, None]
    return _to_uint8(level * shade * np.asarray(colour))


def _radial(centre: tuple[float, float], radius: float) -> np.ndarray:
    """(H, W, 1): 1 at `centre` (fractions of height, width) falling smoothly to 0."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    d = np.hypot(yy - centre[0] * HEIGHT, xx - centre[1] * WIDTH) / (radius * WIDTH)
    glow: np.ndarray = np.exp(-(d**2))[..., None]
    return glow


def sun() -> np.ndarray:
    """A warm white sun glowing in a blue sky."""
    glow = _radial((0.45, 0.5), 0.22)
    sky = np.asarray((0.42, 0.6, 0.85))
    return _to_uint8(sky * (1.0 - glow) + np.asarray((1.0, 0.97, 0.9)) * glow)


def skin() -> np.ndarray:
    """A lit cheek: skin tone brightening to a highlight, red the first channel to clip."""
    light = _radial((0.4, 0.45), 0.3)
    return _to_uint8(np.asarray((0.93, 0.72, 0.6)) * (0.55 + 0.5 * light))


def walls() -> np.ndarray:
    """A bright white wall meeting a grey one in the shade, with a soft fall-off of light."""
    image = np.empty((HEIGHT, WIDTH, 3))
    light = np.linspace(1.0, 0.88, WIDTH // 2)[None, :, None]
    image[:, : WIDTH // 2] = np.asarray((0.97, 0.96, 0.93)) * light
    image[:, WIDTH // 2 :] = np.asarray((0.52, 0.52, 0.5))
    return _to_uint8(image)


SCENES: dict[str, Callable[[], np.ndarray]] = {
    "warm grey": lambda: gradient((1.0, 0.95, 0.9)),
    "cool": lambda: gradient((0.85, 0.93, 1.0)),
    "green": lambda: gradient((0.8, 1.0, 0.7)),
    "sun in a sky": sun,
    "skin": skin,
    "white wall": walls,
}


@dataclass(frozen=True)
class HighlightScores:
    scene: str
    degradation: str  # 's1' (SPEC section 1, tau 0.5) or 'c' (section 1b, +1 EV, JPEG)
    chroma_p99: float  # a*b* distance, 99th percentile where any channel clipped
    step_excess: float  # 8-bit levels of luminance step beyond the original's largest
    full_clip_l: float | None  # output's mean L* where every channel clipped (None: none did)
    full_clip_l_truth: float | None


def degrade(photo: np.ndarray, degradation: str) -> np.ndarray:
    """The photo overexposed by one stop: SPEC section 1 ('s1') or section 1b with JPEG ('c')."""
    if degradation == "s1":
        return overexpose_uint8(photo, 0.5)
    if degradation == "c":
        decoded: np.ndarray = jpeg_round_trip(camera_overexpose_uint8(photo, 1.0))[1]
        return decoded
    raise ValueError(f"unknown degradation {degradation!r}; expected 's1' or 'c'")


def _luma_levels(image: np.ndarray) -> np.ndarray:
    luma: np.ndarray = image.astype(np.float64) @ np.asarray((0.2126, 0.7152, 0.0722))
    return luma


def _largest_step(luma: np.ndarray, where: np.ndarray) -> float:
    dx = np.abs(np.diff(luma, axis=1))[where[:, 1:] | where[:, :-1]]
    dy = np.abs(np.diff(luma, axis=0))[where[1:] | where[:-1]]
    return float(max(dx.max(initial=0.0), dy.max(initial=0.0)))


def score(
    scene: str, degradation: str, truth: np.ndarray, degraded: np.ndarray, output: np.ndarray
) -> HighlightScores:
    clipped = degraded.max(axis=-1) >= CLIPPED
    fully = degraded.min(axis=-1) >= CLIPPED
    lab_truth, lab_out = srgb_to_lab(truth), srgb_to_lab(output)
    ab = np.hypot(*(lab_truth[..., i] - lab_out[..., i] for i in (1, 2)))
    chroma = float(np.percentile(ab[clipped], 99)) if clipped.any() else 0.0
    near = clipped.copy()  # the clipped area and a pixel around it
    near[1:] |= clipped[:-1]
    near[:-1] |= clipped[1:]
    near[:, 1:] |= clipped[:, :-1]
    near[:, :-1] |= clipped[:, 1:]
    step = _largest_step(_luma_levels(output), near) - _largest_step(_luma_levels(truth), near)
    full_l = float(lab_out[..., 0][fully].mean()) if fully.any() else None
    full_truth = float(lab_truth[..., 0][fully].mean()) if fully.any() else None
    return HighlightScores(scene, degradation, chroma, step, full_l, full_truth)


def run(generator: Generator) -> tuple[list[HighlightScores], list[list[np.ndarray]]]:
    """Every scene under both degradations, corrected told 1 EV: scores and the panels (input,
    output, original) of each."""
    scores, panels = [], []
    for name, make in SCENES.items():
        truth = make()
        for degradation in ("s1", "c"):
            degraded = degrade(truth, degradation)
            (output,) = correct_images(generator, [degraded], evs=[1.0])
            scores.append(score(name, degradation, truth, degraded, output))
            panels.append([degraded, output, truth])
    return scores, panels


def format_table(scores: Sequence[HighlightScores]) -> str:
    lines = [
        "| scene | overexposed by | chroma error p99 | step beyond original (levels) | "
        "fully clipped: L* out / original |",
        "|---|---|---:|---:|---:|",
    ]
    for s in scores:
        full = (
            "-"
            if s.full_clip_l is None or s.full_clip_l_truth is None
            else f"{s.full_clip_l:.1f} / {s.full_clip_l_truth:.1f}"
        )
        how = "SPEC 1, tau 0.5" if s.degradation == "s1" else "SPEC 1b, +1 EV, JPEG"
        lines.append(f"| {s.scene} | {how} | {s.chroma_p99:.1f} | {s.step_excess:+.1f} | {full} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.highlights", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINT)
    parser.add_argument(
        "--sheet", type=Path, help="also write a contact sheet: input | output | original"
    )
    args = parser.parse_args(argv)
    generator, _ = load_generator(args.checkpoint)
    scores, panels = run(generator)
    print(format_table(scores))
    if args.sheet:
        contact_sheet(sheet_row(p, HEIGHT) for p in panels).save(args.sheet)
        print(f"wrote {args.sheet}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
