"""What the app keeps between requests, on app.state.service."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.cpu import CpuPool
from app.metrics import Metrics
from app.settings import Settings
from app.worker import InferenceWorker
from model import ExposureEstimator


@dataclass
class ServiceState:
    """Settings, metrics, and the worker and estimator once the lifespan has loaded them."""

    settings: Settings
    metrics: Metrics
    worker: InferenceWorker | None = None
    estimator: ExposureEstimator | None = None
    cpu: CpuPool = field(default_factory=CpuPool)
    draining: bool = False

    def start_draining(self) -> None:
        """Turns /readyz 503 for good: the service is about to stop."""
        self.draining = True

    @property
    def ready(self) -> bool:
        """Loaded, warmed up, its worker thread alive, and not draining."""
        worker = self.worker
        return worker is not None and worker.alive and worker.ready.is_set() and not self.draining
