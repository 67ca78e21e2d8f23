"""Log lines that carry the id of the request they belong to, never request bodies."""

from __future__ import annotations

import logging
from contextvars import ContextVar

# Set by RequestContextMiddleware for the duration of one request ("-" outside requests).
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def configure_logging(level: str, logger: logging.Logger) -> None:
    """Sets `logger`'s level and gives it one handler whose lines name the request id."""
    logger.setLevel(level.upper())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
