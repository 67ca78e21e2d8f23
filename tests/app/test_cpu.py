"""The per-request array work runs at most one job per allowed thread, in arrival order."""

from __future__ import annotations

import threading
import time

import anyio

from app.cpu import CpuPool


def test_pool_bounds_concurrent_jobs_and_keeps_order() -> None:
    pool = CpuPool(2)
    lock = threading.Lock()
    running = 0
    peak = 0
    finished: list[int] = []

    def job(index: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
            finished.append(index)
        return index * 10

    async def main() -> list[int]:
        results: list[int] = [0] * 8

        async def one(i: int) -> None:
            results[i] = await pool.run(job, i)

        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(one, i)
                await anyio.sleep(0.001)  # arrive in order
        return results

    assert anyio.run(main) == [i * 10 for i in range(8)]
    assert peak == 2
    # First come, first served: the first two jobs finish before the last two start.
    assert set(finished[:2]) == {0, 1} and set(finished[-2:]) == {6, 7}


def test_default_size_is_the_core_count() -> None:
    assert CpuPool().size >= 1
