"""Inference lanes: forward passes side by side on the CPU, each lane with its own torch threads."""

from __future__ import annotations

import threading

import torch

from app.lanes import Lanes, plan_lanes
from model.generator import GeneratorOutput
from tests.app.conftest import PATIENCE_S, GatedGenerator, cpu_worker, wait_until


class MeetingGenerator(GatedGenerator):
    """Forward passes over photos (not the warm-up's zeros) wait until `parties` of them are
    running at once, and record the torch threads of the lane that ran them."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.meeting = threading.Barrier(parties, timeout=PATIENCE_S)
        self.torch_threads: list[int] = []

    def predict(
        self, x: torch.Tensor, ev: torch.Tensor | None = None, thumb: torch.Tensor | None = None
    ) -> GeneratorOutput:
        if bool(x.any()):
            self.torch_threads.append(torch.get_num_threads())
            self.meeting.wait()  # raises BrokenBarrierError if the others never come
        return super().predict(x, ev, thumb)


def test_cpu_gets_one_lane_per_core_and_cuda_one_lane() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert plan_lanes(cpu, cores=2) == Lanes(2, 1)
    assert plan_lanes(cpu, cores=16) == Lanes(8, 2)  # at most 8 by default, threads divided
    assert plan_lanes(cpu, requested=1, cores=4) == Lanes(1, 4)
    assert plan_lanes(cpu, requested=3, cores=2) == Lanes(3, 1)
    assert plan_lanes(cuda, cores=16) == Lanes(1, 0)
    assert plan_lanes(cuda, requested=2) == Lanes(2, 0)


def test_two_lanes_run_two_forward_passes_at_once_each_with_its_torch_threads() -> None:
    generator = MeetingGenerator(parties=2)
    own_threads = torch.get_num_threads()
    worker = cpu_worker(generator, max_batch_size=1, lanes=2, torch_threads=1)
    worker.start()
    wait_until(worker.ready.is_set, "both lanes warmed up")
    # With one lane the second image would wait for the first, which waits for the second.
    futures = [worker.submit(torch.rand(3, 32, 32)) for _ in range(2)]
    results = [future.result(PATIENCE_S) for future in futures]
    worker.stop(PATIENCE_S)
    assert [r.fills.shape[1:] for r in results] == [(32, 32)] * 2
    assert generator.torch_threads == [1, 1]
    assert torch.get_num_threads() == own_threads  # set per lane thread, not for the process
    assert not worker.alive


def test_one_lane_runs_one_forward_pass_at_a_time() -> None:
    generator = MeetingGenerator(parties=2)
    generator.meeting = threading.Barrier(2, timeout=1.0)  # the control: it must break
    worker = cpu_worker(generator, max_batch_size=1)
    worker.start()
    wait_until(worker.ready.is_set, "warmed up")
    futures = [worker.submit(torch.rand(3, 32, 32)) for _ in range(2)]
    errors = [future.exception(PATIENCE_S) for future in futures]
    worker.stop(PATIENCE_S)
    assert all(isinstance(error, threading.BrokenBarrierError) for error in errors)


class LaneKiller(BaseException):
    """Escapes the worker's handlers and ends the lane's thread, as a crash there would."""


class DyingGenerator(GatedGenerator):
    """Kills the lane of the next forward pass over a photo once `die_next` is set."""

    die_next = False

    def predict(
        self, x: torch.Tensor, ev: torch.Tensor | None = None, thumb: torch.Tensor | None = None
    ) -> GeneratorOutput:
        if self.die_next and bool(x.any()):
            self.die_next = False
            raise LaneKiller
        return super().predict(x, ev, thumb)


def test_a_dead_lane_is_restarted_alone_while_the_other_goes_on() -> None:
    generator = DyingGenerator()
    worker = cpu_worker(generator, max_batch_size=1, lanes=2, torch_threads=1)
    worker.start()
    wait_until(worker.ready.is_set, "both lanes warmed up")
    lanes_before = list(worker._threads)
    generator.die_next = True
    dead = worker.submit(torch.rand(3, 32, 32))
    assert type(dead.exception(PATIENCE_S)).__name__ == "WorkerDied"
    wait_until(lambda: not worker.alive, "the lane's thread ended")
    assert not worker.ready.is_set()
    worker.restart()
    wait_until(worker.ready.is_set, "the restarted lane warmed up")
    survivors = [a is b for a, b in zip(lanes_before, worker._threads, strict=True)]
    assert sorted(survivors) == [False, True]  # one lane replaced, the other untouched
    assert worker._metrics.worker_restarts._value.get() == 1
    assert worker.submit(torch.rand(3, 32, 32)).result(PATIENCE_S).fills.shape[1:] == (32, 32)
    worker.stop(PATIENCE_S)
    assert not worker.alive
