"""Forward-pass time per image by batch size, in process, as the worker runs it.

    python bench/forward_bench.py [--max-batch 8] [--repeats 5] [--threads N]

Loads the checkpoint the service serves (or an untrained generator of its config: speed does
not depend on the weights), puts it in the worker's CPU memory format (channels_last),
times the best of --repeats forward passes over blank canvases at batch 1, 2, 4, ...
and prints a markdown table and the batch cap the worker would choose on this device.
"""

from __future__ import annotations

import argparse

import torch
from harness import checkpoint_path

from app.batch_cap import CLEARLY_BETTER, best_time, choose_batch_cap
from app.runtime import Runtime
from model import load_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", help="default: the shipped one, else an untrained one")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per size (best)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runtime = Runtime(torch.device("cpu"))
    generator = runtime.place(load_generator(checkpoint_path(args.checkpoint), runtime.device)[0])
    size = generator.config.working_size

    def seconds_for(n: int) -> float:
        canvases = torch.zeros(n, 3, size, size)
        return best_time(lambda: runtime.predict(generator, canvases), args.repeats)

    cap, per_image = choose_batch_cap(seconds_for, args.max_batch)
    single = per_image[1]
    threads = torch.get_num_threads()
    print(f"cpu, {threads} torch threads, {size}px canvas, torch {torch.__version__}")
    print("\n| batch | ms per pass | ms per image | per image vs batch 1 |")
    print("|---:|---:|---:|---:|")
    for n, t in per_image.items():
        print(f"| {n} | {t * n * 1000:.1f} | {t * 1000:.1f} | {t / single:.2f} |")
    print(f"\nbatch cap: {cap} (largest size at most {CLEARLY_BETTER} of batch 1 per image)")


if __name__ == "__main__":
    main()
