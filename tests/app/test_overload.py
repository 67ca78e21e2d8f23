"""Overload and deadlines on loopback: many more clients than the queue holds."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.app.conftest import (
    gated_app,
    http,
    image_bytes,
    make_settings,
    metric_value,
    random_image,
    serve,
    wait_until,
)

CLIENTS = 40
QUEUE = 4
DATA = image_bytes(random_image(24, 24))


def post_image(url: str) -> httpx.Response:
    return http.post(f"{url}/correct", files={"image": ("a.png", DATA, "image/png")})


def latency(url: str, count: int = 5) -> float:
    """Median seconds of `count` sequential requests."""
    times = []
    for _ in range(count):
        began = time.perf_counter()
        assert post_image(url).status_code == 200
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def rejected(url: str, reason: str) -> float:
    text = http.get(f"{url}/metrics").text
    name = f'exposure_requests_rejected_total{{reason="{reason}"}}'
    return metric_value(text, name) if name in text else 0.0


def test_a_burst_is_answered_at_once_and_latency_recovers(checkpoint: Path) -> None:
    settings = make_settings(checkpoint, max_queue=QUEUE, max_batch_size=1, request_timeout_s=60)
    app, generator = gated_app(settings)
    with serve(app) as url, ThreadPoolExecutor(CLIENTS) as pool:
        latency(url, 2)  # first requests pay for lazy set-up
        unloaded = latency(url)
        generator.gate.clear()
        generator.entered.clear()
        futures = [pool.submit(post_image, url)]
        wait_until(generator.entered.is_set, "the first image is in a forward pass")
        futures += [pool.submit(post_image, url) for _ in range(CLIENTS - 1)]
        # With the worker held, everything past the queue is refused without waiting for it.
        overflow = CLIENTS - 1 - QUEUE
        wait_until(lambda: sum(f.done() for f in futures) >= overflow, "the overflow answered")
        early = [f.result() for f in futures if f.done()]
        assert len(early) == overflow and all(r.status_code == 503 for r in early)
        assert rejected(url, "queue_full") == overflow
        generator.gate.set()
        responses = [f.result() for f in futures]
        after = latency(url)
        assert http.get(f"{url}/readyz").status_code == 200
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == QUEUE + 1 and statuses.count(503) == overflow, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
            assert "queue is full" in response.json()["detail"]
    # Back to normal right after: a generous ratio, as the machine may be busy.
    assert after < 5 * unloaded + 0.5, (after, unloaded)


def test_an_unheld_burst_gets_only_200_503_or_504(checkpoint: Path) -> None:
    settings = make_settings(checkpoint, max_queue=QUEUE, request_timeout_s=20)
    app, _ = gated_app(settings)
    with serve(app) as url, ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(lambda _: post_image(url).status_code, range(CLIENTS)))
        assert http.get(f"{url}/healthz").status_code == 200
        assert post_image(url).status_code == 200
    assert set(statuses) <= {200, 503, 504}, statuses
    assert 200 in statuses


def test_the_deadline_answers_504_near_it(checkpoint: Path) -> None:
    timeout_s = 1.0
    app, generator = gated_app(make_settings(checkpoint, request_timeout_s=timeout_s))
    with serve(app) as url:
        generator.gate.clear()
        began = time.perf_counter()
        response = post_image(url)
        elapsed = time.perf_counter() - began
        generator.gate.set()
        assert post_image(url).status_code == 200
    assert response.status_code == 504
    assert "EXPOSURE_REQUEST_TIMEOUT_S" in response.json()["detail"]
    assert timeout_s <= elapsed < 3 * timeout_s + 2, elapsed
