"""Time of one training step (Trainer.step) on synthetic tensors, in process.

    python bench/train_step_bench.py [--preset default] [--steps 6] [--rounds 3] [--threads 2]

Builds the trainer of a preset with the weight-free perceptual stand-in (no VGG weights to
download), feeds it one fixed random batch of the preset's size, and prints the median and
fastest step after one untimed step, reading every loss back (a device sync, as a log line
does). The data pipeline is left out: this measures the step alone. A script that prints
numbers, not a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from model.generator import thumbnail
from training.config import PRESETS
from training.losses import build_perceptual_loss
from training.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = PRESETS[args.preset]
    trainer = Trainer(config, build_perceptual_loss(None), torch.device("cpu"))
    n, crop, size = config.batch_size, config.crop, config.generator.working_size
    batch = (
        torch.rand(n, 3, crop, crop),
        torch.rand(n, 3, crop, crop),
        torch.rand(n) * 2.0,
        thumbnail(torch.rand(n, 3, size, size)),
    )

    def step() -> None:
        for value in trainer.step(batch).values():
            float(value)

    step()
    times = []
    for _ in range(args.rounds * args.steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    print(f"preset {args.preset}: batch {n}, crop {crop}, {args.threads} torch threads")
    print("| median s/step | fastest s/step | steps |\n|---:|---:|---:|")
    print(f"| {statistics.median(times):.3f} | {min(times):.3f} | {len(times)} |")


if __name__ == "__main__":
    main()
