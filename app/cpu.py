"""A bounded pool for the per-request array work: decoding, canvases, full-size apply, encoding."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")


class DeadlinePassed(Exception):
    """The request's deadline passed before its CPU job could finish."""


def default_size(model_on_cpu: bool) -> int:
    """One job per core; one core fewer when forward passes run on the same cores.

    With the model on the CPU its lanes already keep every core busy under load; a pool on
    every core as well measured no faster on 2 cores (within 3% at concurrency 1-64, slower
    at three of four levels) and held about 75 MiB more in full-size buffers
    (docs/benchmarks.md, CPU efficiency).
    """
    cores = os.cpu_count() or 1
    return max(1, cores - 1) if model_on_cpu else cores


def _one_torch_thread() -> None:
    # A pool thread's array work runs on one core: jobs are parallel across requests already,
    # and each OpenMP team beyond the cores throttles every team's spin-wait, so that all of
    # them wake by futex on each parallel region (measured 25 -> 130-180 us per region).
    torch.set_num_threads(1)


def _unless_late(
    fn: Callable[..., T],
    args: tuple[object, ...],
    deadline: float | None,
    submitted: float,
    observe_wait: Callable[[float], None] | None,
) -> T:
    # Checked on the pool thread: a job picked up after its request gave up does no work.
    now = time.monotonic()
    if observe_wait is not None:
        observe_wait(now - submitted)
    if deadline is not None and now >= deadline:
        raise DeadlinePassed
    return fn(*args)


class CpuPool:
    """Runs blocking functions in threads, at most `size` at a time, first come first served.

    Without a bound, 64 concurrent requests would each get 1/64 of the cores (the default
    thread pool has 40 threads): every request slows down together, most miss their deadline
    and throughput collapses. With one job per core, requests finish in arrival order and the
    ones behind them wait in line, where the deadline can still turn them away cleanly.
    """

    def __init__(self, size: int = 0, observe_wait: Callable[[float], None] | None = None) -> None:
        """`observe_wait` is told how long each job waited for a thread, in seconds."""
        self.size = size or default_size(model_on_cpu=False)
        self._observe_wait = observe_wait
        self._executor: ThreadPoolExecutor | None = None

    def submit(
        self, fn: Callable[..., T], *args: object, deadline: float | None = None
    ) -> Future[T]:
        """Queues `fn(*args)`; it fails with DeadlinePassed instead of starting after `deadline`
        (a time.monotonic() value)."""
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlinePassed
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.size, thread_name_prefix="cpu-pool", initializer=_one_torch_thread
            )
        return self._executor.submit(
            _unless_late, fn, args, deadline, time.monotonic(), self._observe_wait
        )

    async def run(self, fn: Callable[..., T], *args: object, deadline: float | None = None) -> T:
        """`fn(*args)` on the pool; raises DeadlinePassed at `deadline` if it has not finished,
        and a job still queued then never starts."""
        future = self.submit(fn, *args, deadline=deadline)
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            # Cancelling the wrapper (timeout, client gone) cancels the queued job too.
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            future.cancel()
            raise DeadlinePassed from None

    def close(self) -> None:
        """Lets the threads end once the jobs already queued have run (a later job starts new
        ones): called when the service stops."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
