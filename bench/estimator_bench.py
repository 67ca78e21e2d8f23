"""What the exposure estimator adds per photo, on this machine's CPU (one torch thread, as the
service's CPU jobs run it): its features on the canvas, its MLP and decision, and both
together, beside the canvas itself and one generator forward pass for scale.

    python bench/estimator_bench.py [--estimator EST] [--checkpoint CKPT] [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model import (
    ExposureEstimator,
    Generator,
    choose_ev,
    load_estimator,
    load_generator,
    predict,
    prepare,
)
from model.estimator import SHIPPED_ESTIMATOR
from model.exposure_features import canvas_features

ROOT = Path(__file__).resolve().parent.parent


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def row(
    label: str,
    image: np.ndarray,
    estimator: ExposureEstimator,
    generator: Generator,
    repeats: int,
) -> str:
    """One table row: the times for one photo size."""
    size = generator.config.working_size
    canvas = prepare(image, size)
    features = canvas_features(canvas.tensor, canvas.low_height, canvas.low_width)[None]
    t_canvas = median_ms(lambda: prepare(image, size), max(5, repeats // 20))
    t_features = median_ms(
        lambda: canvas_features(canvas.tensor, canvas.low_height, canvas.low_width), repeats
    )
    t_mlp = median_ms(lambda: estimator.estimate(features), repeats)
    t_all = median_ms(lambda: choose_ev(estimator, canvas, None), repeats)
    t_forward = median_ms(lambda: predict(generator, canvas.tensor[None], [1.0]), 5)
    return (
        f"| {label} | {t_canvas:.2f} ms | {t_features:.2f} ms | {t_mlp:.2f} ms | "
        f"{t_all:.2f} ms | {t_forward:.0f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--estimator", type=Path, default=SHIPPED_ESTIMATOR)
    parser.add_argument(
        "--checkpoint", type=Path, default=ROOT / "checkpoints/exposure-gan.safetensors"
    )
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    estimator, _ = load_estimator(args.estimator)
    generator, _ = load_generator(args.checkpoint)
    rng = np.random.default_rng(0)
    print("| photo | canvas | features | MLP + decision | estimator in all | forward pass |")
    print("|---|---:|---:|---:|---:|---:|")
    for height, width in ((321, 481), (683, 1024), (4000, 6000)):
        # Blocks of 8 px: a photo-like mix of flat areas and edges, not per-pixel noise.
        blocks = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
        image = np.ascontiguousarray(np.repeat(np.repeat(blocks, 8, 0), 8, 1)[:height, :width])
        print(row(f"{width}x{height}", image, estimator, generator, args.repeats), flush=True)


if __name__ == "__main__":
    main()
