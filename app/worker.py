"""The inference worker: one thread that owns the generator and runs batched forward passes."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from app.batch_cap import describe, measure_batch_cap
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
    ev: float | None = None  # the client's stops of overexposure; None: the model estimates
    request_id: str = "-"
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
    ) -> None:
        """`generator` already placed by `runtime` (Runtime.place)."""
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
        self._stopping = threading.Event()
        # Held while checking the stop flag and enqueueing, so nothing lands after the drain.
        self._submit_lock = threading.Lock()
        # The jobs of the forward pass under way, failed by whoever sees the thread die.
        self._in_flight: list[Job] = []
        self._thread = self._new_thread()

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, name="inference-worker", daemon=True)

    def start(self) -> None:
        """Starts the thread: warm-up first, then serving."""
        self._thread.start()

    def restart(self) -> None:
        """Starts a fresh thread on the same queue after the last one died (warm-up again)."""
        if self._thread.is_alive() or self._stopping.is_set():
            return
        self._fail_in_flight()
        self._metrics.worker_restarts.inc()
        log.warning("restarting the inference worker")
        self._thread = self._new_thread()
        self._thread.start()

    def submit(
        self, canvas: torch.Tensor, ev: float | None = None, request_id: str = "-"
    ) -> Future[Prediction]:
        """Queues one (3, S, S) canvas and the client's EV, if any; raises QueueFull or
        WorkerStopped instead of waiting."""
        job = Job(canvas, ev, request_id)
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
        """Takes no new work, finishes what is queued, then ends the thread."""
        with self._submit_lock:
            self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the worker thread runs (a dead one is restarted by the supervisor)."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException:  # whatever ends the thread: record it and fail its jobs
            log.critical("the inference worker died; /readyz is 503 until restarted", exc_info=True)
            self._fail_in_flight()
        finally:
            self.ready.clear()

    def _fail_in_flight(self) -> None:
        jobs, self._in_flight = self._in_flight, []
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(WorkerDied("the inference worker died"))

    def _serve(self) -> None:
        self.warm_up_error = None
        try:
            self._warm_up()
        except Exception as exc:  # still serve: smaller batches may work where warm-up did not
            log.exception("warm-up failed; /readyz stays 503")
            self.warm_up_error = f"{type(exc).__name__}: {exc}"
        else:
            self.ready.set()
        while True:
            batch = collect_batch(
                self._queue, self.batch_cap, self._max_wait_s, first_timeout=_IDLE_POLL_S
            )
            self._metrics.queue_depth.set(self._queue.qsize())
            if batch:
                self._process(batch)
            elif self._stopping.is_set() and self._queue.empty():
                break
        log.info("inference worker stopped")

    def _warm_up(self) -> None:
        size = self.working_size
        started = time.perf_counter()
        batch = self._max_batch_size
        try:
            self._forward(torch.zeros(batch, 3, size, size))
        except torch.cuda.OutOfMemoryError:
            # Full batches will be split in halves when they run out of memory: serve anyway.
            log.warning("out of device memory on a warm-up batch of %d; warming up with 1", batch)
            batch = 1
            self._forward(torch.zeros(batch, 3, size, size))
        log.info(
            "warmed up on %s: batch %d at %dpx in %.2fs",
            self.device,
            batch,
            size,
            time.perf_counter() - started,
        )
        if batch > 1:  # where the full batch fits: batch only as far as it pays on this device
            self.batch_cap, per_image = measure_batch_cap(self._forward, size, batch)
            log.info("on %s: %s", self.device, describe(self.batch_cap, per_image))

    def _process(self, batch: list[Job]) -> None:
        # A request that gave up (deadline passed) cancelled its future: skip its work.
        jobs = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        now = time.monotonic()
        for job in jobs:
            self._metrics.queue_wait.observe(now - job.enqueued_at)
        self._in_flight = jobs
        self._compute(jobs)
        self._in_flight = []

    def _compute(self, jobs: list[Job]) -> None:
        """One forward pass over `jobs`; out of device memory, the halves are tried apart."""
        self._metrics.batch_size.observe(len(jobs))
        started = time.perf_counter()
        try:
            outputs = self._forward(
                torch.stack([job.canvas for job in jobs]), [job.ev for job in jobs]
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
        self._metrics.inference_duration.observe(time.perf_counter() - started)
        for job, output in zip(jobs, outputs, strict=True):
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
        self, batch: torch.Tensor, evs: Sequence[float | None] | None = None
    ) -> list[Prediction]:
        return self._runtime.predict(self._generator, batch, evs)
