"""The per-request array work runs at most one job per allowed thread, in arrival order."""

from __future__ import annotations

import os
import threading
import time

import anyio
import pytest
import torch

from app.cpu import CpuPool, DeadlinePassed, default_size


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


@pytest.mark.parametrize(
    ("cores", "model_on_cpu", "size"),
    [(2, True, 1), (2, False, 2), (1, True, 1), (16, True, 15), (None, True, 1)],
)
def test_default_size_leaves_a_core_to_a_model_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, model_on_cpu: bool, size: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert default_size(model_on_cpu) == size
    assert CpuPool().size == (cores or 1)
    assert CpuPool(3).size == 3


def test_a_job_waiting_past_its_deadline_fails_then_and_never_runs() -> None:
    pool = CpuPool(1)
    gate = threading.Event()
    ran = threading.Event()
    blocker = pool.submit(gate.wait, 30.0)

    async def main() -> float:
        started = time.monotonic()
        with pytest.raises(DeadlinePassed):
            await pool.run(ran.set, deadline=started + 0.2)
        return time.monotonic() - started

    try:
        assert 0.15 < anyio.run(main) < 1.0  # at the deadline, not when the blocker ends
    finally:
        gate.set()
    blocker.result(5)
    pool.submit(lambda: None).result(5)  # every job queued before this one is done
    assert not ran.is_set()
    pool.close()


def test_a_job_picked_up_after_its_deadline_is_skipped() -> None:
    pool = CpuPool(1)
    gate = threading.Event()
    ran = threading.Event()
    blocker = pool.submit(gate.wait, 30.0)
    late = pool.submit(ran.set, deadline=time.monotonic() + 0.05)
    time.sleep(0.1)
    gate.set()
    blocker.result(5)
    with pytest.raises(DeadlinePassed):
        late.result(5)
    assert not ran.is_set()
    with pytest.raises(DeadlinePassed):  # nothing is even queued once the deadline has passed
        pool.submit(ran.set, deadline=time.monotonic() - 1)
    pool.close()


def test_pool_threads_run_torch_on_one_thread() -> None:
    pool = CpuPool(2)
    try:
        counts = {pool.submit(torch.get_num_threads).result() for _ in range(4)}
    finally:
        pool.close()
    assert counts == {1}
