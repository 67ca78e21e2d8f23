"""The app factory; `uvicorn app.main:app` serves create_app() with settings from the env."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware

from app.cpu import CpuPool, default_size
from app.demo import router as demo_router
from app.drain import SignalDrain
from app.errors import install_error_handlers
from app.lanes import plan_lanes
from app.logs import configure_logging
from app.metrics import Metrics
from app.middleware import RequestContextMiddleware, UploadLimitMiddleware
from app.routes import router
from app.runtime import Runtime
from app.security import DEMO_PATHS, PROBE_PATHS, ApiKeyMiddleware
from app.settings import Settings, get_settings
from app.state import ServiceState
from app.supervisor import supervise
from app.worker import InferenceWorker
from model import (
    CheckpointError,
    EstimatorError,
    ExposureEstimator,
    Generator,
    load_estimator,
    load_generator,
)
from model.device import pick_device
from model.photo import set_pixel_limit

log = logging.getLogger("app")

ModelLoader = Callable[[Settings, torch.device], Generator]
EstimatorLoader = Callable[[Settings], ExposureEstimator]


def load_checkpoint(settings: Settings, device: torch.device) -> Generator:
    """Loads the generator named by EXPOSURE_CHECKPOINT, or says how to name one."""
    try:
        generator, info = load_generator(settings.checkpoint, device)
    except CheckpointError as exc:
        raise RuntimeError(
            f"cannot start: {exc}. Set EXPOSURE_CHECKPOINT to the path of a generator "
            "checkpoint (a .safetensors file written by model.save_generator)"
        ) from exc
    log.info("loaded %s (%s) on %s", info.path, info.config, device)
    return generator


def load_estimator_checkpoint(settings: Settings) -> ExposureEstimator:
    """Loads the estimator named by EXPOSURE_ESTIMATOR_CHECKPOINT, or says how to name one."""
    try:
        estimator, _ = load_estimator(settings.estimator_checkpoint)
    except EstimatorError as exc:
        raise RuntimeError(
            f"cannot start: {exc}. Set EXPOSURE_ESTIMATOR_CHECKPOINT to the path of an exposure "
            "estimator (a .safetensors file written by model.save_estimator)"
        ) from exc
    log.info("loaded estimator %s (%s)", settings.estimator_checkpoint, estimator.config)
    return estimator


def _model_on_cpu(device: str) -> bool:
    """Whether the model will run on the CPU (a device that does not exist is reported, with
    its accepted values, when the lifespan resolves it)."""
    try:
        return pick_device(device).type == "cpu"
    except ValueError:
        return False


def create_app(
    settings: Settings | None = None,
    *,
    load_model: ModelLoader = load_checkpoint,
    load_estimator: EstimatorLoader = load_estimator_checkpoint,
) -> FastAPI:
    """Builds the app; the model loads, warms up and drains in the lifespan."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, log)
    set_pixel_limit(settings.max_pixels)
    metrics = Metrics()
    cpu = CpuPool(
        settings.cpu_threads or default_size(_model_on_cpu(settings.device)),
        observe_wait=metrics.stage_duration.labels(stage="pool_wait").observe,
    )
    state = ServiceState(settings=settings, metrics=metrics, cpu=cpu)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            runtime = Runtime(pick_device(settings.device), settings.precision)
        except ValueError as exc:
            raise RuntimeError(f"cannot start: EXPOSURE_DEVICE: {exc}") from exc
        # The estimator first: it is small, and a missing one stops the start as early.
        state.estimator = await run_in_threadpool(load_estimator, settings)
        generator = await run_in_threadpool(
            lambda: runtime.place(load_model(settings, runtime.device))
        )
        lanes = plan_lanes(runtime.device, settings.inference_threads)
        log.info(
            "%d inference lane(s) on %s, %s torch thread(s) each",
            lanes.count,
            runtime.device,
            lanes.torch_threads or "torch's default",
        )
        worker = InferenceWorker(
            generator,
            runtime,
            state.metrics,
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_wait_ms / 1000,
            max_queue=settings.max_queue,
            lanes=lanes.count,
            torch_threads=lanes.torch_threads,
        )
        # Warm-up runs on the worker thread: the server answers /readyz 503 meanwhile.
        worker.start()
        state.worker = worker
        supervisor = asyncio.create_task(supervise(worker))
        drain = SignalDrain(
            state.start_draining, settings.drain_delay_s, settings.shutdown_timeout_s
        )
        drain.install()
        try:
            yield
        finally:
            state.start_draining()
            drain.uninstall()
            supervisor.cancel()
            await run_in_threadpool(worker.stop)
            state.cpu.close()

    app = FastAPI(
        title="exposure-gan",
        summary="Corrects overexposed photos with a conditional GAN.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = state
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(demo_router)
    app.add_middleware(
        UploadLimitMiddleware, max_bytes=settings.max_upload_bytes, metrics=state.metrics
    )
    if settings.api_keys:
        # Outside the upload limit: a request without a key is refused before its body is read.
        open_paths = DEMO_PATHS | (PROBE_PATHS if settings.public_probes else frozenset())
        app.add_middleware(
            ApiKeyMiddleware, keys=settings.api_keys, open_paths=open_paths, metrics=state.metrics
        )
    # Added after those, so outside them: even a 413 or a 401 carries the request id.
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics)
    if settings.cors_origins:
        # Outermost, so that preflight requests are answered without a key.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "X-Exposure-EV",
                "X-Exposure-EV-Source",
            ],
        )
    return app


_app: FastAPI | None = None


def __getattr__(name: str) -> FastAPI:
    # `app` is built on first access, so importing this module reads no settings.
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        _app = create_app()
    return _app
