"""How precisely a blind correction must know the EV, and what a checkpoint's estimate gives.

    python -m training.ev_sensitivity --data PHOTOS [--checkpoint CKPT]

Three tables on correctly exposed photos:

1. SPEC section 1b's told-truth inverse on scenario C when the EV it takes back is off by a
   few tenths of a stop, and on scenario N (a good photo) when it darkens by that much: the
   accuracy a blind estimate needs to come near the told-truth inverse.
2. How bright correctly exposed photos are, in stops (the mean and the 99th percentile of
   linear luminance): what a blind estimate has to tell apart from overexposure.
3. With a checkpoint: its blind output, and its output told its own estimate plus a bias or a
   constant EV, per scenario: whether any fixed lean toward "more overexposed" buys the
   overexposed scenarios without costing N.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model import (
    ExposureEstimator,
    Generator,
    camera_inverse_uint8,
    choose_ev,
    correct_images,
    load_estimator,
    load_generator,
    prepare,
    srgb_to_linear,
)
from model.estimator import SHIPPED_ESTIMATOR
from training.command import command_parser, exit_status
from training.metrics import psnr
from training.scenarios import Case, load_photos, make_case

ERRORS = (-0.5, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.5)
BIASES = (0.15, 0.3, 0.5)
CONSTANTS = (0.5, 1.0)
MODEL_SCENARIOS = ("n", "c", "j1", "j2")
_LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 weights for linear sRGB


def inverse_with_error(case: Case, error: float) -> np.ndarray:
    """The camera inverse of a case's input for its true EV plus `error` stops (at least 0)."""
    return camera_inverse_uint8(case.input, max(0.0, (case.ev or 0.0) + error))


def error_table(photos: Sequence[tuple[str, np.ndarray]], errors: Sequence[float]) -> str:
    """Mean PSNR of the camera inverse on C and on N, the EV off by each error."""
    rows: dict[str, dict[float, list[float]]] = {s: {e: [] for e in errors} for s in ("c", "n")}
    for index, (name, photo) in enumerate(photos):
        for scenario, per_error in rows.items():
            case = make_case(scenario, index, photo, name)
            for error in errors:
                if scenario == "n" and error < 0:
                    continue  # nothing to brighten back: the inverse of EV 0 is the identity
                per_error[error].append(psnr(photo, inverse_with_error(case, error)))
    lines = [
        "| EV taken back minus the true EV | " + " | ".join(f"{e:+.1f}" for e in errors) + " |"
    ]
    lines.append("|---|" + "---:|" * len(errors))
    for scenario, per_error in rows.items():
        cells = [f"{np.mean(v):.2f}" if v else "" for v in per_error.values()]
        lines.append(f"| {scenario.upper()}: PSNR, camera inverse | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def brightness_stops(photo: np.ndarray) -> tuple[float, float, float]:
    """log2 of the mean and of the 99th percentile of linear luminance, and the clipped share."""
    linear = srgb_to_linear(photo.astype(np.float64) / 255.0) @ _LUMA
    floor = 1e-4  # a black photo has no finite log
    mean = float(np.log2(max(linear.mean(), floor)))
    p99 = float(np.log2(max(np.percentile(linear, 99), floor)))
    return mean, p99, float((photo == 255).any(axis=-1).mean())


def brightness_table(photos: Sequence[tuple[str, np.ndarray]]) -> str:
    stats = np.array([brightness_stops(photo) for _, photo in photos])
    return "\n".join(
        [
            "| photos | log2 mean luminance: mean, std | log2 99th percentile: mean, std "
            "| share with over 1% clipped pixels |",
            "|---:|---:|---:|---:|",
            f"| {len(stats)} | {stats[:, 0].mean():.2f}, {stats[:, 0].std():.2f} "
            f"| {stats[:, 1].mean():.2f}, {stats[:, 1].std():.2f} "
            f"| {(stats[:, 2] > 0.01).mean():.2f} |",
        ]
    )


def estimates(estimator: ExposureEstimator, size: int, images: Sequence[np.ndarray]) -> list[float]:
    """The estimator's EV for each image (what the service takes back without `ev`)."""
    return [choose_ev(estimator, prepare(image, size), None).ev for image in images]


def model_table(
    generator: Generator, estimator: ExposureEstimator, photos: Sequence[tuple[str, np.ndarray]]
) -> str:
    """Per scenario: the estimate's error, then mean PSNR blind, told the estimate plus each
    bias, and told each constant EV."""
    heads = ["blind", *(f"estimate {b:+.2f}" for b in BIASES), *(f"EV {c}" for c in CONSTANTS)]
    lines = ["| scenario | estimate minus truth: mean, mean abs | " + " | ".join(heads) + " |"]
    lines.append("|---|---:|" + "---:|" * len(heads))
    for scenario in MODEL_SCENARIOS:
        cases = [make_case(scenario, i, photo, name) for i, (name, photo) in enumerate(photos)]
        inputs = [case.input for case in cases]
        guess = np.array(estimates(estimator, generator.config.working_size, inputs))
        error = guess - np.array([case.ev or 0.0 for case in cases])
        told: list[list[float | None]] = [[None] * len(cases)]
        told += [[float(min(4.0, g + b)) for g in guess] for b in BIASES]
        told += [[c] * len(cases) for c in CONSTANTS]
        cells = []
        for evs in told:
            outputs = correct_images(generator, inputs, evs, estimator=estimator)
            cells.append(np.mean([psnr(c.truth, o) for c, o in zip(cases, outputs, strict=True)]))
        lines.append(
            f"| {scenario.upper()} | {error.mean():+.2f}, {np.abs(error).mean():.2f} | "
            + " | ".join(f"{v:.2f}" for v in cells)
            + " |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("training.ev_sensitivity", __doc__)
    parser.add_argument("--data", type=Path, required=True, help="correctly exposed photos")
    parser.add_argument("--checkpoint", type=Path, help="also table 3 for this checkpoint")
    parser.add_argument("--estimator", type=Path, default=SHIPPED_ESTIMATOR, help="blind EVs")
    parser.add_argument("--limit", type=int, help="use only the first N photos")
    args = parser.parse_args(argv)

    def report() -> None:
        photos = load_photos(args.data, args.limit)
        print(f"EV error and PSNR, {len(photos)} photos of {args.data}\n")
        print(error_table(photos, ERRORS), flush=True)
        print(f"\nBrightness of the correctly exposed photos\n\n{brightness_table(photos)}")
        if args.checkpoint is not None:
            generator, _ = load_generator(args.checkpoint)
            estimator, _ = load_estimator(args.estimator)
            print(f"\n{args.checkpoint}: PSNR by the EV it is told\n")
            print(model_table(generator, estimator, photos), flush=True)

    return exit_status(report)


if __name__ == "__main__":
    sys.exit(main())
