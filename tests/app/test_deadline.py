"""The request deadline covers the CPU pool too: a request stuck behind busy threads gets 504."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import app.routes
from app.main import create_app
from tests.app.conftest import http, image_bytes, make_settings, random_image, serve

TIMEOUT_S = 0.5


@pytest.mark.parametrize("endpoint", ["/correct", "/simulate-overexposure"])
def test_a_request_waiting_for_a_busy_pool_gets_504_at_its_deadline(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    started_jobs: list[str] = []
    real_job = app.routes.decode

    def recorded(*args: object) -> object:
        started_jobs.append("decode")
        return real_job(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(app.routes, "decode", recorded)
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
