"""Faults in the inference path: out of memory, a dead worker thread, clients that leave."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch

from app.main import create_app
from model.generator import GeneratorOutput
from tests.app.conftest import (
    GatedGenerator,
    gated_app,
    http,
    image_bytes,
    make_settings,
    metric_value,
    random_image,
    serve,
    wait_until,
)


class ThreadKiller(BaseException):
    """Escapes every `except Exception`, as a fatal error in the worker thread would."""


class FlakyGenerator(GatedGenerator):
    """Runs out of device memory on batches of more than one image, or kills its thread once."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.die_next = False

    def predict(
        self, x: torch.Tensor, ev: torch.Tensor | None = None, thumb: torch.Tensor | None = None
    ) -> GeneratorOutput:
        if self.die_next:
            self.die_next = False
            raise ThreadKiller
        self.batches.append(int(x.shape[0]))
        if x.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected by the test)")
        return super().predict(x, ev, thumb)


def post_image(url: str, data: bytes, request_id: str = "") -> httpx.Response:
    headers = {"X-Request-ID": request_id} if request_id else {}
    return http.post(f"{url}/correct", files={"image": ("a.png", data)}, headers=headers)


def metrics_text(url: str) -> str:
    return http.get(f"{url}/metrics").text


def test_out_of_memory_splits_the_batch_in_halves(checkpoint: Path) -> None:
    generator = FlakyGenerator()
    settings = make_settings(checkpoint, max_batch_size=4, max_wait_ms=500)
    app = create_app(settings, load_model=lambda _s, device: generator.to(device))
    uploads = [image_bytes(random_image(20, 30, seed=i)) for i in range(5)]
    with serve(app) as url, ThreadPoolExecutor(5) as pool:
        generator.gate.clear()
        generator.entered.clear()
        generator.batches.clear()
        first = pool.submit(post_image, url, uploads[0])
        wait_until(generator.entered.is_set, "the first image is in a forward pass")
        rest = [pool.submit(post_image, url, data) for data in uploads[1:]]
        wait_until(
            lambda: metric_value(metrics_text(url), "exposure_queue_depth") == 4, "4 images queued"
        )
        generator.gate.set()
        responses = [first.result()] + [f.result() for f in rest]
        assert http.get(f"{url}/readyz").status_code == 200
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    # 4 images ran out of memory, then 2 and 2, then each alone.
    assert generator.batches == [1, 4, 2, 1, 1, 2, 1, 1]


def test_a_dead_worker_turns_readyz_503_and_is_restarted(checkpoint: Path) -> None:
    generator = FlakyGenerator()
    app = create_app(make_settings(checkpoint), load_model=lambda _s, device: generator.to(device))
    data = image_bytes(random_image(16, 16))
    with serve(app) as url:
        generator.die_next = True
        generator.gate.clear()  # holds the restarted worker's warm-up
        generator.entered.clear()
        failed = post_image(url, data, request_id="req-dies-1")
        assert failed.status_code == 500
        assert "req-dies-1" in failed.json()["detail"]
        assert "Traceback" not in failed.text
        wait_until(generator.entered.is_set, "the worker was restarted and is warming up")
        not_ready = http.get(f"{url}/readyz")
        assert not_ready.status_code == 503
        assert http.get(f"{url}/healthz").status_code == 200
        generator.gate.set()
        wait_until(lambda: http.get(f"{url}/readyz").status_code == 200, "ready again")
        assert post_image(url, data).status_code == 200
        text = metrics_text(url)
    assert metric_value(text, "exposure_worker_restarts_total") == 1


def _raw_post(url: str, data: bytes) -> socket.socket:
    """Sends a complete /correct request on a raw socket and leaves the socket open."""
    request = httpx.Request("POST", f"{url}/correct", files={"image": ("a.png", data)})
    body = request.read()
    host, port = request.url.host, request.url.port
    assert port is not None
    head = f"POST /correct HTTP/1.1\r\nHost: {host}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in request.headers.items() if k.lower() != "host"
    )
    sock = socket.create_connection((host, port))
    sock.sendall(head.encode() + b"\r\n" + body)
    return sock


def test_a_client_that_leaves_has_its_queued_work_cancelled(checkpoint: Path) -> None:
    app, generator = gated_app(make_settings(checkpoint, max_batch_size=1))
    data = image_bytes(random_image(16, 16))
    with serve(app) as url, ThreadPoolExecutor(1) as pool:
        first = generator.start_held(pool, lambda: post_image(url, data))
        leaver = _raw_post(url, data)
        wait_until(
            lambda: metric_value(metrics_text(url), "exposure_queue_depth") == 1, "one queued"
        )
        leaver.close()
        reason = 'exposure_requests_rejected_total{reason="client_disconnected"}'
        wait_until(lambda: reason in metrics_text(url), "the server saw the client leave")
        generator.gate.set()
        assert first.result().status_code == 200
        assert post_image(url, data).status_code == 200
        text = metrics_text(url)
    # The first image and the last: the leaver's image was never computed.
    assert metric_value(text, "exposure_batch_size_sum") == 2
    assert metric_value(text, reason) == 1
