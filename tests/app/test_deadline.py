"""The request deadline covers the CPU pool too: a request stuck behind busy threads gets 504."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import app.routes
from app.main import create_app
from app.processing import read_upload
from tests.app.conftest import http, image_bytes, make_settings, random_image, serve

TIMEOUT_S = 0.5


@pytest.mark.parametrize("endpoint", ["/correct", "/simulate-overexposure"])
def test_a_request_waiting_for_a_busy_pool_gets_504_at_its_deadline(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    started_jobs: list[str] = []

    def recorded(*args: object) -> object:
        started_jobs.append("read_upload")
        return read_upload(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(app.routes, "read_upload", recorded)
    settings = make_settings(checkpoint, cpu_threads=1, request_timeout_s=TIMEOUT_S)
    service = create_app(settings)
    pool = service.state.service.cpu
    gate = threading.Event()
    with serve(service) as url:
        blocker = pool.submit(gate.wait, 30.0)
        try:
            began = time.monotonic()
            response = http.post(
                f"{url}{endpoint}", files={"image": ("a.png", image_bytes(random_image(32, 32)))}
            )
            elapsed = time.monotonic() - began
        finally:
            gate.set()
        blocker.result(10)
        pool.submit(lambda: None).result(10)  # whatever was queued behind the blocker is done
        metrics = http.get(f"{url}/metrics").text
    assert response.status_code == 504, response.text
    assert "request deadline" in response.json()["detail"]
    assert TIMEOUT_S * 0.8 < elapsed < TIMEOUT_S + 2.0
    assert started_jobs == []
    assert 'exposure_requests_rejected_total{reason="timeout"} 1.0' in metrics


def test_one_image_takes_two_cpu_jobs(checkpoint: Path) -> None:
    service = create_app(make_settings(checkpoint, cpu_threads=1))
    pool = service.state.service.cpu
    submitted: list[str] = []
    submit = pool.submit

    def counted(fn: Callable[..., object], *args: object, deadline: float | None = None) -> object:
        submitted.append(getattr(fn, "__name__", ""))
        return submit(fn, *args, deadline=deadline)

    pool.submit = counted
    with serve(service) as url:
        files = {"image": ("a.png", image_bytes(random_image(32, 32)))}
        assert http.post(f"{url}/correct", files=files).status_code == 200
    assert submitted == ["read_upload", "write_correction"]
