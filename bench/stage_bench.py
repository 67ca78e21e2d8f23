"""Where one request's CPU time goes, stage by stage, in process: this checkout and others.

    python bench/stage_bench.py [--baseline ../old] [--rounds 4] [--size 776x517 | --photo FILE]

Each checkout runs in its own subprocess (its own code and shipped checkpoint, this Python's
packages) on one torch thread, as a service lane and its CPU-pool job do: decode, canvas,
the exposure estimator's EV where the checkout has one (older ones estimate in the forward
pass), forward (batch 1), apply at full size, encode, on the benchmark's JPEG, the median of
several calls each (`--photo`: that file instead, e.g. a real overexposed photo, whose clipped
areas the fill works on; the synthetic one has no area where every channel clipped). Rounds
alternate the checkouts' order (A B, then B A); the table gives each stage's
median over rounds in milliseconds. The service's own histogram
(`exposure_stage_duration_seconds`, printed by serve_bench.py) shows the same stages under load,
waiting included; this script shows the work alone, for versions that lack the histogram too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import harness

T = TypeVar("T")
STAGES = ("decode", "canvas", "estimate", "forward", "apply", "encode")


def measure(size: tuple[int, int], calls: int, photo_file: Path | None = None) -> dict[str, float]:
    """Median seconds per stage in this process (run with the checkout on sys.path)."""
    import torch

    from app.processing import finish_correction, make_canvas
    from app.runtime import Runtime
    from model import load_generator
    from model.photo import decode, encode

    torch.set_num_threads(1)
    runtime = Runtime(torch.device("cpu"))
    # The checkout's own shipped checkpoint (this runs in the checkout's folder).
    generator = runtime.place(load_generator(Path("checkpoints") / "exposure-gan.safetensors")[0])
    if photo_file is None:
        body = harness.jpeg_bytes(harness.synthetic_photo(*size))
    else:
        body = photo_file.read_bytes()
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    try:  # a checkout with an exposure estimator chooses the blind EV with it, as it serves
        from model import choose_ev, load_estimator
    except ImportError:
        estimator = None
    else:
        estimator = load_estimator(Path("checkpoints") / "exposure-estimator.safetensors")[0]

    def timed(stage: str, fn: Callable[..., T], *args: object) -> T:
        started = time.perf_counter()
        result = fn(*args)
        times[stage].append(time.perf_counter() - started)
        return result

    for _ in range(calls + 1):  # the first call of each stage is a warm-up, dropped below
        photo = timed("decode", decode, body, 1 << 30)
        canvas = timed("canvas", make_canvas, photo.color, generator.config.working_size)
        if estimator is None:  # the generator estimates in its forward pass
            times["estimate"].append(0.0)
            (prediction,) = timed("forward", runtime.predict, generator, canvas.tensor[None])
        else:
            choice = timed("estimate", choose_ev, estimator, canvas, None)
            batch = canvas.tensor[None]
            (prediction,) = timed(
                "forward", runtime.predict, generator, batch, [choice.ev], [choice.source]
            )
        color = timed("apply", finish_correction, photo.color, canvas, prediction)
        timed("encode", encode, color, photo.alpha, photo.icc_profile, photo.family, None)
    return {stage: statistics.median(values[1:]) for stage, values in times.items()}


def run_checkout(
    checkout: Path, size: str, calls: int, photo_file: Path | None = None
) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{checkout}{os.pathsep}{Path(__file__).parent}"}
    args = [sys.executable, __file__, "--worker", "--size", size, "--calls", str(calls)]
    if photo_file is not None:
        args += ["--photo", str(photo_file)]
    done = subprocess.run(args, cwd=checkout, env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", action="append", default=[], type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calls", type=int, default=7, help="timed calls per stage and round")
    parser.add_argument("--size", default="776x517", help="photo WIDTHxHEIGHT")
    parser.add_argument("--photo", type=Path, help="time this photo file instead")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.worker:
        print(json.dumps(measure((width, height), args.calls, args.photo)))
        return
    checkouts = [harness.REPO_ROOT, *(path.resolve() for path in args.baseline)]
    results: dict[Path, list[dict[str, float]]] = {path: [] for path in checkouts}
    for number in range(args.rounds):
        order = checkouts[::-1] if number % 2 else checkouts
        for checkout in order:
            print(f"round {number + 1}: {checkout}", file=sys.stderr, flush=True)
            photo = args.photo.resolve() if args.photo else None
            results[checkout].append(run_checkout(checkout, args.size, args.calls, photo))
    what = args.photo.name if args.photo else args.size
    print(f"| checkout ({what}, ms, one thread) | {' | '.join(STAGES)} | total |")
    print("|---|" + "---:|" * (len(STAGES) + 1))
    for checkout, rounds in results.items():
        medians = [1000 * statistics.median(r[stage] for r in rounds) for stage in STAGES]
        cells = " | ".join(f"{m:.1f}" for m in medians)
        print(f"| {checkout} | {cells} | {sum(medians):.1f} |")


if __name__ == "__main__":
    main()
