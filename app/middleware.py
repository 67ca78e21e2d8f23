"""ASGI middleware: request ids, request metrics, the upload limit while the body streams in."""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import request_id_var
from app.metrics import Metrics

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# Metric labels only for known paths, so that scanners cannot blow up the label set.
_ENDPOINTS = frozenset(
    {
        "/correct",
        "/simulate-overexposure",
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/openapi.json",
    }
)


class UploadTooLarge(HTTPException):
    """The request body passed EXPOSURE_MAX_UPLOAD_MB."""

    reason = "upload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the upload is larger than {limit} bytes; accepted: at most "
            f"{limit / 2**20:g} MB per request (EXPOSURE_MAX_UPLOAD_MB)",
        )


class RequestContextMiddleware:
    """Gives every request an id (kept from the client when valid), times it, and turns
    anything unexpected into a JSON 500 that carries the id."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = given if _VALID_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started, status = True, int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        began = time.perf_counter()
        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            status = 500
            if not started:
                response = JSONResponse(
                    {"detail": f"internal error (request id {request_id}); please report it"},
                    status_code=500,
                    headers={REQUEST_ID_HEADER: request_id},
                )
                await response(scope, receive, send)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in _ENDPOINTS else "other"
            elapsed = time.perf_counter() - began
            self.metrics.request_duration.labels(endpoint=endpoint, status=str(status)).observe(
                elapsed
            )
            # The endpoint label, not the raw path: a client's path is not echoed into logs.
            log.debug("%s %s -> %d in %.3f s", scope.get("method"), endpoint, status, elapsed)
            request_id_var.reset(token)


class UploadLimitMiddleware:
    """Answers 413 from Content-Length at once, and counts bytes as the body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = UploadTooLarge(self.max_bytes)
            self.metrics.reject(error.reason)
            response = JSONResponse({"detail": error.detail}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise UploadTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)
