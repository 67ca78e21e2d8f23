"""Optional API keys: `Authorization: Bearer KEY`, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.metrics import Metrics

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# The demo page's own files hold no data; the API calls it makes still need a key.
DEMO_PATHS = frozenset({"/", "/static/app.js", "/static/style.css"})
UNAUTHORIZED_DETAIL = (
    "missing or invalid API key; accepted: the header 'Authorization: Bearer <key>' "
    "with one of the keys the service was given (EXPOSURE_API_KEYS)"
)


def key_matches(given: str, keys: Iterable[bytes]) -> bool:
    """Whether `given` is one of `keys`; every key is compared, each in constant time, so
    the answer's timing tells nothing about which key, or how much of one, matched."""
    token = given.encode("utf-8", "replace")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(token, key)
    return matched and bool(token)


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header ('' for any other scheme)."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class ApiKeyMiddleware:
    """Answers 401 (JSON, with WWW-Authenticate) before any body is read when the key is
    missing or wrong; `open_paths` need no key."""

    def __init__(
        self, app: ASGIApp, keys: Iterable[str], open_paths: frozenset[str], metrics: Metrics
    ) -> None:
        self.app = app
        self.keys = tuple(key.encode("utf-8") for key in keys)
        self.open_paths = open_paths
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        token = bearer_token(Headers(scope=scope).get("authorization", ""))
        if key_matches(token, self.keys):
            await self.app(scope, receive, send)
            return
        self.metrics.reject("unauthorized")
        response = JSONResponse(
            {"detail": UNAUTHORIZED_DETAIL},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="exposure-gan"'},
        )
        await response(scope, receive, send)
