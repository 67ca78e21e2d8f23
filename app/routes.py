"""The HTTP endpoints: decode, hand canvases to the worker, encode; nothing here knows torch."""

from __future__ import annotations

import asyncio
import time
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from app.cpu import CpuPool, DeadlinePassed
from app.deps import (
    CpuDep,
    EstimatorDep,
    MetricsDep,
    RequestIdDep,
    SettingsDep,
    StateDep,
    WorkerDep,
)
from app.errors import ApiError
from app.processing import Upload, read_upload, write_correction, write_simulation
from app.settings import Settings
from app.worker import InferenceWorker, QueueFull, WorkerStopped
from model import DEFAULT_GAMMA, DEFAULT_TAU, Canvas, EvChoice, ExposureEstimator, Prediction
from model.photo import CONTENT_TYPES

router = APIRouter()


class OutputFormat(StrEnum):
    """Output image formats."""

    jpeg = "jpeg"
    png = "png"
    webp = "webp"


ImageField = Annotated[UploadFile, File(description="the photo: JPEG, PNG, WebP, TIFF or BMP")]
FormatField = Annotated[
    OutputFormat | None,
    Form(description="output format; default: the input's family (JPEG, WebP, else PNG)"),
]
QualityField = Annotated[
    int | None, Form(ge=1, le=100, description="quality of lossy output (jpeg, webp)")
]
TauField = Annotated[
    float, Form(gt=0, le=1, allow_inf_nan=False, description="clip level in linear light")
]
EvField = Annotated[
    float | None,
    Form(
        ge=0,
        le=4,
        allow_inf_nan=False,
        description="stops of overexposure to take back, when the client knows them (a slider,"
        " its own metadata); default: the model estimates them",
    ),
]
GammaField = Annotated[
    float, Form(gt=0, le=1, allow_inf_nan=False, description="encoding exponent")
]
_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {t: {} for t in CONTENT_TYPES.values()}, "description": "the image"}
}
_CORRECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        **_IMAGE_RESPONSES[200],
        "headers": {
            "X-Exposure-EV": {
                "description": "the stops of overexposure taken back, two decimals (0.00: the"
                " photo was left as it was); for an estimate, the EV with the least expected"
                " loss under the estimator's distribution, which leans low when unsure",
                "schema": {"type": "string"},
            },
            "X-Exposure-EV-Source": {
                "description": "'client': the request's ev; 'estimate': the exposure estimator's",
                "schema": {"type": "string", "enum": ["client", "estimate"]},
            },
        },
    }
}


async def _one_image(request: Request) -> None:
    """Refuses (422) several `image` fields, where the framework would quietly take the last."""
    count = len((await request.form()).getlist("image"))
    if count > 1:
        raise ApiError(
            422,
            f"the request holds {count} 'image' fields; accepted: exactly one image per request",
            "invalid_parameter",
        )


async def _read(
    image: UploadFile,
    settings: Settings,
    cpu: CpuPool,
    deadline: float,
    fmt: OutputFormat | None,
    working_size: int | None = None,
    estimator: ExposureEstimator | None = None,
    ev: float | None = None,
) -> Upload:
    data = await image.read()
    chosen = fmt.value if fmt else None
    return await cpu.run(
        read_upload,
        data,
        settings.max_pixels,
        chosen,
        working_size,
        estimator,
        ev,
        deadline=deadline,
    )


async def _client_gone(request: Request) -> None:
    """Returns once the client has closed the connection (its body was read before this)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _infer(
    worker: InferenceWorker,
    canvas: Canvas,
    choice: EvChoice,
    request: Request,
    deadline: float,
    request_id: str,
) -> Prediction:
    """Queues the canvas and awaits its output until the deadline or the client leaves."""
    try:
        future = worker.submit(canvas.tensor, choice.ev, request_id, choice.source)
    except QueueFull:
        raise ApiError(
            503,
            "the queue is full; accepted: retry after the Retry-After seconds",
            "queue_full",
            {"Retry-After": "1"},
        ) from None
    except WorkerStopped:
        raise ApiError(
            503,
            "the service is shutting down; accepted: retry on another instance",
            "shutting_down",
            {"Retry-After": "1"},
        ) from None
    result = asyncio.ensure_future(asyncio.wrap_future(future))
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait(
            (result, gone), timeout=deadline - time.monotonic(), return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        gone.cancel()
    if not result.done():
        future.cancel()  # the worker skips it if it has not started yet
        result.cancel()
        if gone.done() and not gone.cancelled():
            # Nobody reads this answer; the status only labels the metrics (nginx's 499).
            raise ApiError(499, "the client closed the connection", "client_disconnected")
        raise DeadlinePassed
    try:
        return result.result()
    except Exception as exc:
        raise ApiError(
            500,
            f"the model failed on the batch holding this image ({type(exc).__name__}); "
            f"request id {request_id}; the service goes on: retry, or report the request id",
            "inference_error",
        ) from exc


@router.post(
    "/correct",
    response_class=Response,
    responses=_CORRECT_RESPONSES,
    dependencies=[Depends(_one_image)],
)
async def correct(
    request: Request,
    image: ImageField,
    worker: WorkerDep,
    estimator: EstimatorDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
    cpu: CpuDep,
    metrics: MetricsDep,
    format: FormatField = None,
    quality: QualityField = None,
    ev: EvField = None,
) -> Response:
    """Corrects an overexposed photo; same size as the input after EXIF orientation.

    A photo that is not overexposed comes back as it was (X-Exposure-EV: 0.00)."""
    deadline = time.monotonic() + settings.request_timeout_s
    upload = await _read(image, settings, cpu, deadline, format, worker.working_size, estimator, ev)
    assert upload.canvas is not None and upload.choice is not None
    output = await _infer(worker, upload.canvas, upload.choice, request, deadline, request_id)
    body = await cpu.run(write_correction, upload, output, quality, deadline=deadline)
    response = Response(body, media_type=CONTENT_TYPES[upload.fmt])
    metrics.ev.labels(source=output.ev_source).observe(output.ev)
    for stage, seconds in upload.stage_s.items():
        metrics.stage_duration.labels(stage=stage).observe(seconds)
    response.headers["X-Exposure-EV"] = f"{output.ev:.2f}"
    response.headers["X-Exposure-EV-Source"] = output.ev_source
    return response


@router.post(
    "/simulate-overexposure",
    response_class=Response,
    responses=_IMAGE_RESPONSES,
    dependencies=[Depends(_one_image)],
)
async def simulate(
    image: ImageField,
    settings: SettingsDep,
    cpu: CpuDep,
    tau: TauField = DEFAULT_TAU,
    gamma: GammaField = DEFAULT_GAMMA,
    format: FormatField = None,
    quality: QualityField = None,
) -> Response:
    """Overexposes a photo exactly as SPEC section 1: y = min(1, x * tau ** -gamma)."""
    deadline = time.monotonic() + settings.request_timeout_s
    upload = await _read(image, settings, cpu, deadline, format)
    body = await cpu.run(write_simulation, upload, tau, gamma, quality, deadline=deadline)
    return Response(body, media_type=CONTENT_TYPES[upload.fmt])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """200 while the process lives."""
    return {"status": "alive"}


@router.get("/readyz", response_model=None)
async def readyz(state: StateDep) -> dict[str, str] | JSONResponse:
    """200 once the model is loaded and warmed up; 503 before and while draining."""
    if state.ready:
        assert state.worker is not None
        return {"status": "ready", "device": str(state.worker.device)}
    if state.draining:
        why = "the service is draining for shutdown"
    elif state.worker is None:
        why = "the model is loading"
    elif not state.worker.alive:
        why = "the inference worker died and is being restarted"
    elif state.worker.warm_up_error:
        why = f"warm-up failed ({state.worker.warm_up_error})"
    else:
        why = "the model is warming up"
    return JSONResponse(
        {"detail": f"not ready: {why}; ready when this returns 200"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


@router.get("/metrics")
async def metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
