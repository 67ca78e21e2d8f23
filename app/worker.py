"""The inference worker: threads (lanes) that share one generator and run batched forward passes.

One lane on a GPU, where a batch is the way to use the device. On a CPU a batch of N is rarely
cheaper per image than N single passes, while N passes side by side, each on its share of the
cores, are (app/lanes.py plan_lanes; measured in docs/benchmarks.md). The lanes take jobs
from one queue, so a request waits for whichever lane frees first.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from app.batch_cap import warm_up
from app.batching import collect_batch
from app.metrics import Metrics
from app.runtime import Runtime
from model import Generator, Prediction

log = logging.getLogger(__name__)

# How often an idle worker looks at its stop flag.
_IDLE_POLL_S = 0.05


class QueueFull(Exception):
    """The queue holds EXPOSURE_MAX_QUEUE images already."""


class WorkerStopped(Exception):
    """The worker is draining or stopped and takes no new work."""


class WorkerDied(RuntimeError):
    """The worker thread ended unexpectedly while this image was in its forward pass."""


@dataclass
class Job:
    """One image's canvas and the future its request awaits."""

    canvas: torch.Tensor
    ev: float = 0.0  # the stops of overexposure to take back (pipeline.choose_ev)
    request_id: str = "-"
    source: str = "client"  # where the EV came from: 'client' or 'estimate'
    future: Future[Prediction] = field(default_factory=Future)
    enqueued_at: float = field(default_factory=time.monotonic)


class InferenceWorker:
    """Takes canvases from a bounded queue and answers each one's future from a batch."""

    def __init__(
        self,
        generator: Generator,
        runtime: Runtime,
        metrics: Metrics,
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
        lanes: int = 1,
        torch_threads: int = 0,
    ) -> None:
        """`generator` already placed by `runtime` (Runtime.place); `lanes` threads run forward
        passes at once, each with `torch_threads` intra-op threads (0: torch's own count)."""
        self.working_size = generator.config.working_size
        self.device = runtime.device
        self.ready = threading.Event()
        self.warm_up_error: str | None = None
        self._runtime = runtime
        self._generator = generator
        self._metrics = metrics
        self._max_batch_size = max_batch_size
        self.batch_cap = max_batch_size  # measured in warm-up: at most max_batch_size
        self._max_wait_s = max_wait_s
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=max_queue)
        self._torch_threads = torch_threads
        self._stopping = threading.Event()
        # Held while checking the stop flag and enqueueing, so nothing lands after the drain.
        self._submit_lock = threading.Lock()
        # Set once lane 0 has measured the batch cap: the other lanes wait for it, so that the
        # measurement has the cores to itself.
        self._cap_measured = threading.Event()
        self._warm_lock = threading.Lock()
        self._warm: set[int] = set()  # lanes warmed up; ready once all are
        # Each lane's forward pass under way, failed by whoever sees its thread die.
        self._in_flight: dict[int, list[Job]] = {}
        self._threads = [self._new_thread(lane) for lane in range(lanes)]

    @property
    def lanes(self) -> int:
        """Forward passes that can run at once."""
        return len(self._threads)

    def _new_thread(self, lane: int) -> threading.Thread:
        return threading.Thread(
            target=self._run, args=(lane,), name=f"inference-worker-{lane}", daemon=True
        )

    def start(self) -> None:
        """Starts the lanes: warm-up first, then serving."""
        for thread in self._threads:
            thread.start()

    def restart(self) -> None:
        """Starts a fresh thread on the same queue for each lane whose thread died (each warms
        up again)."""
        if self._stopping.is_set():
            return
        for lane, thread in enumerate(self._threads):
            if thread.is_alive():
                continue
            self._fail_in_flight(lane)
            self._metrics.worker_restarts.inc()
            log.warning("restarting inference lane %d", lane)
            self._threads[lane] = self._new_thread(lane)
            self._threads[lane].start()

    def submit(
        self,
        canvas: torch.Tensor,
        ev: float = 0.0,
        request_id: str = "-",
        source: str = "client",
    ) -> Future[Prediction]:
        """Queues one (3, S, S) canvas and the EV to take back (and where it came from);
        raises QueueFull or WorkerStopped instead of waiting."""
        job = Job(canvas, ev, request_id, source)
        with self._submit_lock:
            if self._stopping.is_set():
                raise WorkerStopped
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise QueueFull from None
        self._metrics.queue_depth.set(self._queue.qsize())
        return job.future

    def stop(self, timeout: float | None = None) -> None:
        """Takes no new work, finishes what is queued, then ends the lanes' threads."""
        with self._submit_lock:
            self._stopping.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    @property
    def alive(self) -> bool:
        """Whether every lane's thread runs (a dead one is restarted by the supervisor)."""
        return all(thread.is_alive() for thread in self._threads)

    def _run(self, lane: int) -> None:
        try:
            self._serve(lane)
        except BaseException:  # whatever ends the thread: record it and fail its jobs
            log.critical(
                "inference lane %d died; /readyz is 503 until restarted", lane, exc_info=True
            )
            self._fail_in_flight(lane)
        finally:
            with self._warm_lock:
                self._warm.discard(lane)
                self.ready.clear()

    def _fail_in_flight(self, lane: int) -> None:
        for job in self._in_flight.pop(lane, []):
            if not job.future.done():
                job.future.set_exception(WorkerDied("the inference worker died"))

    def _serve(self, lane: int) -> None:
        if self._torch_threads:  # OpenMP's setting is per thread: each lane sets its own
            torch.set_num_threads(self._torch_threads)
        try:
            self._warm_up(lane)
        except Exception as exc:  # still serve: smaller batches may work where warm-up did not
            log.exception("warm-up failed; /readyz stays 503")
            self.warm_up_error = f"{type(exc).__name__}: {exc}"
        else:
            with self._warm_lock:
                self._warm.add(lane)
                if len(self._warm) == self.lanes:
                    self.warm_up_error = None
                    self.ready.set()
        while True:
            batch = collect_batch(
                self._queue, self.batch_cap, self._max_wait_s, first_timeout=_IDLE_POLL_S
            )
            self._metrics.queue_depth.set(self._queue.qsize())
            if batch:
                self._process(lane, batch)
            elif self._stopping.is_set() and self._queue.empty():
                break
        log.info("inference lane %d stopped", lane)

    def _warm_up(self, lane: int) -> None:
        size = self.working_size
        if lane != 0 or self._cap_measured.is_set():
            # A restarted lane, or one that waited for lane 0's measurement: one small pass.
            while not self._cap_measured.wait(_IDLE_POLL_S):
                if self._stopping.is_set():
                    return
            self._forward(torch.zeros(1, 3, size, size))
            return
        try:
            self.batch_cap = warm_up(self._forward, size, self._max_batch_size, str(self.device))
            self._runtime.free_memory()
        finally:
            self._cap_measured.set()

    def _process(self, lane: int, batch: list[Job]) -> None:
        # A request that gave up (deadline passed) cancelled its future: skip its work.
        jobs = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        now = time.monotonic()
        queue_stage = self._metrics.stage_duration.labels(stage="queue")
        for job in jobs:
            self._metrics.queue_wait.observe(now - job.enqueued_at)
            queue_stage.observe(now - job.enqueued_at)
        self._in_flight[lane] = jobs
        self._compute(jobs)
        self._in_flight.pop(lane, None)

    def _compute(self, jobs: list[Job]) -> None:
        """One forward pass over `jobs`; out of device memory, the halves are tried apart."""
        self._metrics.batch_size.observe(len(jobs))
        started = time.perf_counter()
        try:
            outputs = self._forward(
                torch.stack([job.canvas for job in jobs]),
                [job.ev for job in jobs],
                [job.source for job in jobs],
            )
        except Exception as exc:
            self._metrics.inference_duration.observe(time.perf_counter() - started)
            if isinstance(exc, torch.cuda.OutOfMemoryError) and len(jobs) > 1:
                log.warning("out of device memory on %d images; retrying in halves", len(jobs))
                self._runtime.free_memory()
                half = len(jobs) // 2
                self._compute(jobs[:half])
                self._compute(jobs[half:])
            else:  # fails only this batch; the worker goes on
                self._fail(jobs, exc)
            return
        duration = time.perf_counter() - started
        self._metrics.inference_duration.observe(duration)
        forward_stage = self._metrics.stage_duration.labels(stage="forward")
        for job, output in zip(jobs, outputs, strict=True):
            forward_stage.observe(duration)  # each image waits for its whole batch
            job.future.set_result(output)

    def _fail(self, jobs: list[Job], exc: Exception) -> None:
        log.error(
            "forward pass over %d image(s) failed (requests %s)",
            len(jobs),
            ", ".join(job.request_id for job in jobs),
            exc_info=exc,
        )
        for job in jobs:
            job.future.set_exception(exc)

    def _forward(
        self,
        batch: torch.Tensor,
        evs: Sequence[float] | None = None,
        sources: Sequence[str] | None = None,
    ) -> list[Prediction]:
        return self._runtime.predict(
            self._generator, batch, evs, sources, on_fallback=self._metrics.precision_fallbacks.inc
        )
