"""A bounded pool for the per-request array work: decoding, canvases, full-size apply, encoding."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


def default_size(model_on_cpu: bool) -> int:
    """One job per core; one core fewer when forward passes run on the same cores.

    A model on the CPU needs a core of its own to overlap with decoding and encoding: with
    every core in the pool, a batch's results flood it with finishing work and the next
    forward pass waits behind them (measured on 2 cores, concurrency 16-64: batching then
    paid nothing; with one core left to the model, batching beats single images).
    """
    cores = os.cpu_count() or 1
    return max(1, cores - 1) if model_on_cpu else cores


class CpuPool:
    """Runs blocking functions in threads, at most `size` at a time, first come first served.

    Without a bound, 64 concurrent requests would each get 1/64 of the cores (the default
    thread pool has 40 threads): every request slows down together, most miss their deadline
    and throughput collapses. With one job per core, requests finish in arrival order and the
    ones behind them wait in line, where the deadline can still turn them away cleanly.
    """

    def __init__(self, size: int = 0) -> None:
        self.size = size or default_size(model_on_cpu=False)
        # Created on first use: a CapacityLimiter belongs to the event loop that runs it.
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.size)
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self._limiter)
