"""Batching, readiness, back-pressure, deadlines, failures and drain, through real HTTP."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from app.main import create_app
from tests.app.conftest import (
    GatedGenerator,
    cpu_worker,
    gated_app,
    http,
    image_bytes,
    make_settings,
    metric_value,
    random_image,
    serve,
    wait_until,
)


def post_image(url: str, data: bytes, request_id: str = "") -> httpx.Response:
    headers = {"X-Request-ID": request_id} if request_id else {}
    files = {"image": ("upload.png", data, "image/png")}
    return http.post(f"{url}/correct", files=files, headers=headers)


def metrics_text(url: str) -> str:
    return http.get(f"{url}/metrics").text


def test_concurrent_requests_of_different_sizes_share_forward_passes(checkpoint: Path) -> None:
    settings = make_settings(checkpoint, max_batch_size=8, max_wait_ms=200)
    app, generator = gated_app(settings)
    sizes = [(17, 23), (64, 64), (1, 1), (37, 61), (5, 300), (128, 96), (33, 33), (80, 12)]
    uploads = [image_bytes(random_image(h, w, seed=i)) for i, (h, w) in enumerate(sizes * 2)]
    with serve(app) as url, ThreadPoolExecutor(16) as pool:
        # Hold the worker in its first pass so the rest queue up behind it.
        generator.gate.clear()
        generator.entered.clear()
        futures = [pool.submit(post_image, url, data) for data in uploads]
        wait_until(generator.entered.is_set, "a forward pass started")
        wait_until(
            lambda: (
                metric_value(metrics_text(url), "exposure_queue_depth") == 16 - generator.last_batch
            ),
            "all other images are queued",
        )
        generator.gate.set()
        responses = [f.result() for f in futures]
        text = metrics_text(url)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    for response, (height, width) in zip(responses, sizes * 2, strict=True):
        assert Image.open(io.BytesIO(response.content)).size == (width, height)
    passes = metric_value(text, "exposure_batch_size_count")
    assert metric_value(text, "exposure_batch_size_sum") == 16  # every image once
    single = metric_value(text, 'exposure_batch_size_bucket{le="1.0"}')
    assert single < passes < 16  # some forward passes carried several images


def test_readyz_is_503_until_warm_up_finishes(checkpoint: Path) -> None:
    app, generator = gated_app(make_settings(checkpoint))
    generator.gate.clear()  # holds the warm-up pass
    with serve(app, wait_ready=False) as url:
        wait_until(generator.entered.is_set, "warm-up started")
        response = http.get(f"{url}/readyz")
        assert response.status_code == 503
        assert "warming up" in response.json()["detail"]
        assert http.get(f"{url}/healthz").status_code == 200
        generator.gate.set()
        wait_until(lambda: http.get(f"{url}/readyz").status_code == 200, "ready")


def test_queue_full_is_503_with_retry_after(checkpoint: Path) -> None:
    app, generator = gated_app(make_settings(checkpoint, max_queue=1, max_batch_size=1))
    data = image_bytes(random_image(16, 16))
    with serve(app) as url, ThreadPoolExecutor(2) as pool:
        running = generator.start_held(pool, lambda: post_image(url, data))
        queued = pool.submit(post_image, url, data)
        wait_until(
            lambda: metric_value(metrics_text(url), "exposure_queue_depth") == 1, "queue is full"
        )
        rejected = post_image(url, data)
        assert rejected.status_code == 503
        assert rejected.headers["retry-after"] == "1"
        assert "queue is full" in rejected.json()["detail"]
        generator.gate.set()
        assert running.result().status_code == 200
        assert queued.result().status_code == 200
        text = metrics_text(url)
    assert metric_value(text, 'exposure_requests_rejected_total{reason="queue_full"}') == 1


def test_deadline_is_504_and_queued_work_is_dropped(checkpoint: Path) -> None:
    settings = make_settings(checkpoint, request_timeout_s=0.3, max_batch_size=1)
    app, generator = gated_app(settings)
    data = image_bytes(random_image(16, 16))
    with serve(app) as url, ThreadPoolExecutor(2) as pool:
        first = generator.start_held(pool, lambda: post_image(url, data))
        second = pool.submit(post_image, url, data)  # waits in the queue behind it
        for response in (first.result(), second.result()):
            assert response.status_code == 504
            assert "EXPOSURE_REQUEST_TIMEOUT_S" in response.json()["detail"]
        generator.gate.set()
        assert post_image(url, data).status_code == 200
        text = metrics_text(url)
    # The first image and the last one: the second was dropped, never computed.
    assert metric_value(text, "exposure_batch_size_count") == 2
    assert metric_value(text, 'exposure_requests_rejected_total{reason="timeout"}') == 2


def test_a_failing_forward_pass_fails_only_its_batch(checkpoint: Path) -> None:
    app, _ = gated_app(make_settings(checkpoint))
    white = image_bytes(np.full((20, 20, 3), 255, np.uint8))
    with serve(app) as url:
        failed = post_image(url, white, request_id="req-white-1")
        assert failed.status_code == 500
        assert failed.headers["x-request-id"] == "req-white-1"
        assert "req-white-1" in failed.json()["detail"]
        ok = post_image(url, image_bytes(random_image(20, 20)))
        assert ok.status_code == 200
        assert http.get(f"{url}/readyz").status_code == 200


def test_missing_checkpoint_refuses_to_start(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "absent.safetensors"))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(RuntimeError, match="EXPOSURE_CHECKPOINT"):
        asyncio.run(start())


def test_missing_estimator_refuses_to_start(tmp_path: Path, checkpoint: Path) -> None:
    absent = tmp_path / "absent-estimator.safetensors"
    app = create_app(make_settings(checkpoint, estimator_checkpoint=absent))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(RuntimeError, match=r"estimator not found.*EXPOSURE_ESTIMATOR_CHECKPOINT"):
        asyncio.run(start())


def test_drain_finishes_in_flight_requests_and_readyz_turns_503(checkpoint: Path) -> None:
    app, generator = gated_app(make_settings(checkpoint))
    transport = httpx.ASGITransport(app=app)
    data = image_bytes(random_image(16, 16))

    async def scenario() -> tuple[int, int, int]:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            lifespan = app.router.lifespan_context(app)
            await lifespan.__aenter__()
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.01)
            generator.gate.clear()
            generator.entered.clear()
            files = {"image": ("a.png", data, "image/png")}
            in_flight = asyncio.create_task(client.post("/correct", files=files))
            while not generator.entered.is_set():
                await asyncio.sleep(0.01)
            shutdown = asyncio.create_task(lifespan.__aexit__(None, None, None))
            while not app.state.service.draining:
                await asyncio.sleep(0.01)
            draining = (await client.get("/readyz")).status_code
            late = (await client.post("/correct", files=files)).status_code
            generator.gate.set()
            done = (await in_flight).status_code
            await shutdown
            return draining, late, done

    draining, late, done = asyncio.run(scenario())
    assert (draining, late, done) == (503, 503, 200)


def test_worker_drains_its_queue_on_stop() -> None:
    generator = GatedGenerator()
    worker = cpu_worker(generator, max_batch_size=2)
    worker.start()
    wait_until(worker.ready.is_set, "warm-up done")
    generator.gate.clear()
    futures = [worker.submit(torch.rand(3, 64, 64)) for _ in range(5)]
    with ThreadPoolExecutor(1) as pool:
        stopping = pool.submit(worker.stop)
        wait_until(lambda: not worker.alive or generator.entered.is_set(), "work started")
        generator.gate.set()
        stopping.result()
    assert [f.result().fills.shape for f in futures] == [(6, 64, 64)] * 5
    assert not worker.alive
