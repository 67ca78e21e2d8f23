"""Prometheus metrics, each app instance with its own registry so that instances never collide."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Request latencies reach past the default 60 s request deadline.
_LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
# Stops of overexposure taken back: fine near 0, where most uploads are.
EV_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)


class Metrics:
    """The service's metrics and the registry that exports them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_duration = Histogram(
            "exposure_request_duration_seconds",
            "Time from request start to response, by endpoint and HTTP status.",
            ["endpoint", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "exposure_queue_wait_seconds",
            "Time an image waited in the queue before its forward pass started.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference_duration = Histogram(
            "exposure_inference_duration_seconds",
            "Duration of one forward pass, copies to and from the device included.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage_duration = Histogram(
            "exposure_stage_duration_seconds",
            "Time one image spent in each stage of a correction: pool_wait (for a CPU-pool"
            " slot), decode, canvas, estimate (the exposure estimator, blind requests only), queue"
            " (for a forward pass), forward (its batch's pass),"
            " apply (the prediction at full size), encode.",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "exposure_batch_size",
            "Images in one forward pass.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "exposure_queue_depth", "Images waiting for a forward pass.", registry=self.registry
        )
        self.rejected = Counter(
            "exposure_requests_rejected_total",
            "Requests answered with an error, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.ev = Histogram(
            "exposure_correction_ev",
            "Stops of overexposure taken back per corrected photo, by where they came from:"
            " 'client' (the request's ev) or 'estimate' (the model's).",
            ["source"],
            buckets=EV_BUCKETS,
            registry=self.registry,
        )
        self.precision_fallbacks = Counter(
            "exposure_precision_fallbacks_total",
            "Forward passes whose half-precision outputs were not finite and were run again in"
            " float32.",
            registry=self.registry,
        )
        self.worker_restarts = Counter(
            "exposure_worker_restarts_total",
            "Times the inference worker thread died and was started again.",
            registry=self.registry,
        )

    def reject(self, reason: str) -> None:
        """Counts one request answered with an error: the one way every rejection is counted."""
        self.rejected.labels(reason=reason).inc()

    def render(self) -> tuple[bytes, str]:
        """The metrics in Prometheus text format and their content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
