"""Forward passes on CUDA by precision, memory format and cuDNN autotuning, in process.

    python bench/gpu_forward.py --device cuda [--precisions bf16,fp16,tf32,fp32] [--batches 1,8]

For each combination: milliseconds per batch for the forward pass alone (canvases already on
the device, outputs left there) and for the worker's whole call (`Runtime.predict`: the copy
in from pinned memory, the forward pass, the outputs back to the CPU in float32), each the
median of timed passes after warm-up, the clock read after `torch.cuda.synchronize()`. Their
difference is what the copies cost. On a machine without CUDA it runs the same loop on the
CPU (a dry run of the script, no benchmark).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from harness import checkpoint_path

from app.runtime import Runtime
from model import Generator, load_generator


def _median_ms(step: Callable[[], object], device: torch.device, warm: int, timed: int) -> float:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warm):
        step()
    sync()
    times = []
    for _ in range(timed):
        began = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


def measure(
    master: Generator, runtime: Runtime, batch: int, warm: int, timed: int
) -> tuple[float, float]:
    """(forward ms, whole call ms) for one batch size under one runtime."""
    generator = runtime.place(copy.deepcopy(master))
    size = master.config.working_size
    canvases = torch.rand(batch, 3, size, size)
    on_device = canvases.to(runtime.device).contiguous(memory_format=runtime.memory_format)
    ev = torch.ones(batch, device=runtime.device)
    amp = runtime.amp_dtype

    @torch.inference_mode()
    def forward() -> object:
        with torch.autocast(runtime.device.type, dtype=amp or torch.float32, enabled=bool(amp)):
            return generator.predict(on_device, ev)

    def whole() -> object:
        return runtime.predict(generator, canvases, [1.0] * batch)

    return _median_ms(forward, runtime.device, warm, timed), _median_ms(
        whole, runtime.device, warm, timed
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precisions", default="bf16,fp16,tf32,fp32")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--warm", type=int, default=3)
    parser.add_argument("--timed", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device if torch.cuda.is_available() else "cpu")
    master, _ = load_generator(checkpoint_path(None))
    layouts = [False, True]
    autotune = [False, True] if device.type == "cuda" else [False]
    print(f"device {device}; {master.config.working_size} px canvases; median of {args.timed}")
    print()
    print("| precision | channels_last | cudnn.benchmark | batch | forward ms | with copies ms "
          "| forward ms per image |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|")
    for precision in args.precisions.split(","):
        for channels_last in layouts:
            for tune in autotune:
                torch.backends.cudnn.benchmark = tune
                runtime = Runtime(device, precision, channels_last=channels_last)
                for batch in (int(b) for b in args.batches.split(",")):
                    forward, whole = measure(master, runtime, batch, args.warm, args.timed)
                    print(
                        f"| {precision} | {channels_last} | {tune if autotune[-1] else 'n/a'} "
                        f"| {batch} | {forward:.1f} | {whole:.1f} | {forward / batch:.2f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
