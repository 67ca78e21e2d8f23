"""Errors as JSON {"detail": ...} that say what was wrong and what is accepted."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.cpu import DeadlinePassed
from model.photo import CannotEncode, ImageError, NotAnImage, TooManyPixels, UnsupportedFormat

log = logging.getLogger(__name__)

# What each request field accepts, quoted in 422 messages.
ACCEPTED = {
    "image": "a multipart file field 'image' holding a JPEG, PNG, WebP, TIFF or BMP image",
    "tau": "a number with 0 < tau <= 1 (default 0.5)",
    "gamma": "a number with 0 < gamma <= 1 (default 1/2.2)",
    "format": "one of jpeg, png, webp",
    "quality": "an integer from 1 to 100",
    "ev": "a number from 0 to 4, the stops of overexposure to take back (default: estimated)",
}


# The status and rejection reason of each photo error; the codec itself knows nothing of HTTP.
_IMAGE_STATUS: dict[type[ImageError], tuple[int, str]] = {
    NotAnImage: (400, "bad_image"),
    TooManyPixels: (413, "too_many_pixels"),
    UnsupportedFormat: (415, "bad_format"),
    CannotEncode: (422, "invalid_parameter"),
}


class ApiError(Exception):
    """An error answered with `status` and a JSON detail; `reason` labels the rejection metric."""

    def __init__(
        self, status: int, detail: str, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.headers = headers or {}


def _field_name(loc: tuple[Any, ...]) -> str:
    names = [str(part) for part in loc if part not in ("body", "query", "form")]
    return ".".join(names) or "request"


def describe_validation_error(exc: RequestValidationError) -> str:
    """One sentence per bad field: what was wrong and what the field accepts."""
    parts = []
    for error in exc.errors():
        name = _field_name(tuple(error.get("loc", ())))
        accepted = ACCEPTED.get(name.split(".")[0])
        text = f"{name}: {error.get('msg', 'invalid value')}"
        if "input" in error and error.get("type") != "missing":
            text += f" (got {str(error['input'])[:50]!r})"
        if accepted:
            text += f"; accepted: {accepted}"
        parts.append(text)
    return "; ".join(parts) or "invalid request"


def count_rejection(request: Request, reason: str) -> None:
    """Counts a rejected request on the app's metrics, when the app has them."""
    service = getattr(request.app.state, "service", None)
    if service is not None:
        service.metrics.reject(reason)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    count_rejection(request, exc.reason)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)


async def _image_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ImageError)
    status, reason = next(
        (found for kind, found in _IMAGE_STATUS.items() if isinstance(exc, kind)),
        (400, "bad_image"),
    )
    count_rejection(request, reason)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _deadline_passed(request: Request, exc: Exception) -> JSONResponse:
    timeout_s = request.app.state.service.settings.request_timeout_s
    count_rejection(request, "timeout")
    detail = (
        f"the image was not corrected within the {timeout_s:g} s request deadline "
        "(EXPOSURE_REQUEST_TIMEOUT_S); accepted: retry later or send a smaller image"
    )
    return JSONResponse({"detail": detail}, status_code=504)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    count_rejection(request, "invalid_parameter")
    return JSONResponse({"detail": describe_validation_error(exc)}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if exc.status_code == 404:
        detail = (
            f"no such endpoint: {request.url.path}; accepted: POST /correct, "
            "POST /simulate-overexposure, GET /healthz, /readyz, /metrics, /docs"
        )
    elif exc.status_code == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}"
    count_rejection(request, getattr(exc, "reason", f"http_{exc.status_code}"))
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Registers the JSON error handlers on `app`."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ImageError, _image_error)
    app.add_exception_handler(DeadlinePassed, _deadline_passed)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
