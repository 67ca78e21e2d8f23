"""Dependencies that reach the service state, as Annotated aliases for route signatures."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.cpu import CpuPool
from app.errors import ApiError
from app.metrics import Metrics
from app.settings import Settings
from app.state import ServiceState
from app.worker import InferenceWorker
from model import ExposureEstimator


def get_state(request: Request) -> ServiceState:
    """The app's ServiceState."""
    state: ServiceState = request.app.state.service
    return state


def _not_ready() -> ApiError:
    return ApiError(
        503,
        "the model is still loading; accepted: retry when GET /readyz returns 200",
        "not_ready",
        {"Retry-After": "1"},
    )


def get_worker(state: Annotated[ServiceState, Depends(get_state)]) -> InferenceWorker:
    """The running worker, or 503 while the model is still loading."""
    if state.worker is None:
        raise _not_ready()
    return state.worker


def get_estimator(state: Annotated[ServiceState, Depends(get_state)]) -> ExposureEstimator:
    """The exposure estimator, or 503 while the models are still loading."""
    if state.estimator is None:
        raise _not_ready()
    return state.estimator


def get_request_id(request: Request) -> str:
    """The id RequestContextMiddleware gave this request."""
    return str(getattr(request.state, "request_id", "-"))


StateDep = Annotated[ServiceState, Depends(get_state)]
WorkerDep = Annotated[InferenceWorker, Depends(get_worker)]
EstimatorDep = Annotated[ExposureEstimator, Depends(get_estimator)]
RequestIdDep = Annotated[str, Depends(get_request_id)]


def get_settings_dep(state: StateDep) -> Settings:
    """The settings this app was created with."""
    return state.settings


def get_metrics(state: StateDep) -> Metrics:
    """This app's metrics."""
    return state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def get_cpu(state: StateDep) -> CpuPool:
    """The bounded pool for per-request array work."""
    return state.cpu


CpuDep = Annotated[CpuPool, Depends(get_cpu)]
