"""Forward-pass time per image by batch size, and images/s by lanes, in process, as the worker
runs them.

    python bench/forward_bench.py [--max-batch 8] [--repeats 5] [--threads N] [--lanes 1x2,2x1]

Loads the checkpoint the service serves (or an untrained generator of its config: speed does
not depend on the weights), puts it in the worker's CPU memory format (channels_last),
times the best of --repeats forward passes over blank canvases at batch 1, 2, 4, ...
and prints a markdown table and the batch cap the worker would choose on this device. Then,
for each LANESxTHREADS, runs single-image passes in LANES threads at once, each with THREADS
torch threads (as EXPOSURE_INFERENCE_THREADS does), and prints images/s.
"""

from __future__ import annotations

import argparse
import threading
import time

import torch
from harness import checkpoint_path

from app.batch_cap import CLEARLY_BETTER, best_time, choose_batch_cap
from app.runtime import Runtime
from model import Generator, load_generator


def lanes_rate(runtime: Runtime, generator: Generator, lanes: int, threads: int, n: int) -> float:
    """Images/s of `lanes` threads running `n` single-canvas passes each, after one untimed."""
    size = generator.config.working_size
    canvas = torch.zeros(1, 3, size, size)
    start = threading.Barrier(lanes + 1)

    def lane() -> None:
        torch.set_num_threads(threads)  # per thread, as each worker lane sets its own
        runtime.predict(generator, canvas)
        start.wait()
        for _ in range(n):
            runtime.predict(generator, canvas)

    workers = [threading.Thread(target=lane) for _ in range(lanes)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return lanes * n / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", help="default: the shipped one, else an untrained one")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per size (best)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--lanes", default="1x2,2x1", help="LANESxTHREADS to compare")
    parser.add_argument("--lane-passes", type=int, default=12, help="passes per lane")
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
    print("\n| lanes x torch threads | images/s |")
    print("|---|---:|")
    for layout in args.lanes.split(","):
        lanes, threads = (int(v) for v in layout.split("x"))
        rate = lanes_rate(runtime, generator, lanes, threads, args.lane_passes)
        print(f"| {lanes} x {threads} | {rate:.2f} |")


if __name__ == "__main__":
    main()
