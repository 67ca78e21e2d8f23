"""The batch cap: the largest batch whose forward pass is clearly cheaper per image than one.

On a GPU one pass over 8 canvases costs little more than over one; on a CPU a batch of N is
rarely faster per image than N single passes, and batching then only adds waiting (the
images of a batch finish together). So the worker measures its own device at start-up and
batches only as far as that pays; EXPOSURE_MAX_BATCH_SIZE stays the upper bound.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)

# A batch must cost at most this share of batch 1's time per image to be worth its waiting.
CLEARLY_BETTER = 0.85


def probe_sizes(max_batch_size: int) -> list[int]:
    """1, 2, 4, ... below the bound, then the bound itself."""
    sizes, size = [], 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    return [*sizes, max_batch_size]


def choose_batch_cap(
    seconds_for: Callable[[int], float],
    max_batch_size: int,
    clearly_better: float = CLEARLY_BETTER,
) -> tuple[int, dict[int, float]]:
    """The cap and the measured seconds per image by batch size.

    `seconds_for(n)` times one forward pass over n images (math.inf where it cannot run).
    The cap is the largest size whose time per image is at most `clearly_better` times
    batch 1's; 1 where none is.
    """
    per_image = {n: seconds_for(n) / n for n in probe_sizes(max_batch_size)}
    single = per_image[1]
    better = [n for n, t in per_image.items() if n > 1 and t <= clearly_better * single]
    cap = max(better) if better and math.isfinite(single) else 1
    return cap, per_image


def best_time(run: Callable[[], object], repeats: int = 2) -> float:
    """The fastest of `repeats` timed calls, after one untimed call (first calls of a shape
    pay for allocations and kernel choices)."""
    run()
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def measure_batch_cap(
    forward: Callable[[torch.Tensor], object], working_size: int, max_batch_size: int
) -> tuple[int, dict[int, float]]:
    """Times `forward` on blank canvases at each probe size on its own device (a size that
    runs out of device memory counts as never better) and chooses the cap."""

    def seconds_for(n: int) -> float:
        canvases = torch.zeros(n, 3, working_size, working_size)
        try:
            return best_time(lambda: forward(canvases))
        except torch.cuda.OutOfMemoryError:
            return math.inf

    return choose_batch_cap(seconds_for, max_batch_size)


def describe(cap: int, per_image: dict[int, float]) -> str:
    """One log line's worth: the cap and the ms per image at each size."""
    times = ", ".join(f"{n}: {t * 1000:.1f}" for n, t in per_image.items())
    return f"batch cap {cap} (ms per image by batch size: {times})"


def warm_up(
    forward: Callable[[torch.Tensor], object], working_size: int, max_batch_size: int, where: str
) -> int:
    """One pass at the full batch (at 1 if that runs out of device memory), then, where the full
    batch fits, the measured cap: batch only as far as it pays on this device. Returns the cap."""
    started = time.perf_counter()
    batch = max_batch_size
    try:
        forward(torch.zeros(batch, 3, working_size, working_size))
    except torch.cuda.OutOfMemoryError:
        # Full batches will be split in halves when they run out of memory: serve anyway.
        log.warning("out of device memory on a warm-up batch of %d; warming up with 1", batch)
        batch = 1
        forward(torch.zeros(batch, 3, working_size, working_size))
    elapsed = time.perf_counter() - started
    log.info("warmed up on %s: batch %d at %dpx in %.2fs", where, batch, working_size, elapsed)
    if batch == 1:
        return max_batch_size
    cap, per_image = measure_batch_cap(forward, working_size, batch)
    log.info("on %s: %s", where, describe(cap, per_image))
    return cap
