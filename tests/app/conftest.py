"""A real uvicorn server on a free port, and generators whose forward passes tests can steer."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
import torch
import uvicorn
from fastapi import FastAPI
from PIL import Image

from app.main import create_app
from app.metrics import Metrics
from app.runtime import Runtime
from app.settings import Settings
from app.worker import InferenceWorker
from model import Generator, save_generator
from model.generator import GeneratorOutput
from tests.conftest import TINY, tiny_estimator_file, tiny_generator

T = TypeVar("T")

# Upper bound on waits for a server or a condition; never reached when things work.
PATIENCE_S = 30.0
# What a forward pass over blank canvases costs a GatedGenerator beyond its arithmetic.
_PASS_COST_S = 0.02
# One client for all tests: building one per request (SSL context, proxies) costs ~0.1 s each.
http = httpx.Client(timeout=PATIENCE_S, trust_env=False)


class GatedGenerator(Generator):
    """A real generator whose forward passes (predict) wait at a gate (open by default) and fail on
    pure-white inputs, so that tests can hold the worker busy or break one batch."""

    def __init__(self) -> None:
        super().__init__(TINY)
        self.load_state_dict(tiny_generator().state_dict())
        self.eval()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a forward pass reached the gate
        self.last_batch = 0  # images in the latest forward pass

    def predict(
        self, x: torch.Tensor, ev: torch.Tensor | None = None, thumb: torch.Tensor | None = None
    ) -> GeneratorOutput:
        if not bool(x.any()):
            # Warm-up's blank canvases: a fixed cost per pass, as on a GPU, so the start-up
            # measurement always finds that batches pay and tests see them.
            time.sleep(_PASS_COST_S)
        self.last_batch = int(x.shape[0])
        self.entered.set()
        if not self.gate.wait(PATIENCE_S):
            raise RuntimeError("test gate never opened")
        if bool((x.flatten(1).amin(dim=1) == 1.0).any()):
            raise RuntimeError("pure white input: this test generator fails on purpose")
        return super().predict(x, ev, thumb)

    def start_held(self, pool: Executor, send: Callable[[], T]) -> Future[T]:
        """Closes the gate, starts `send` in `pool` and returns once its image is in a forward
        pass, so the worker stays busy until the test opens the gate."""
        self.gate.clear()
        self.entered.clear()
        started = pool.submit(send)
        wait_until(self.entered.is_set, "the first image is in a forward pass")
        return started


def cpu_worker(
    generator: Generator, *, max_batch_size: int, lanes: int = 1, torch_threads: int = 0
) -> InferenceWorker:
    """An inference worker on the CPU around `generator`, not started; no batch wait."""
    return InferenceWorker(
        generator,
        Runtime(torch.device("cpu")),
        Metrics(),
        max_batch_size=max_batch_size,
        max_wait_s=0.0,
        max_queue=8,
        lanes=lanes,
        torch_threads=torch_threads,
    )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Polls `condition` until it holds (fails the test after PATIENCE_S)."""
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.01)


@contextmanager
def serve(app: FastAPI, *, wait_ready: bool = True) -> Iterator[str]:
    """Runs `app` under uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=30))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "the server started")
        assert server.started, "the server failed to start"
        url = f"http://127.0.0.1:{port}"
        if wait_ready:
            wait_until(lambda: http.get(f"{url}/readyz").status_code == 200, "ready")
        yield url
    finally:
        server.should_exit = True
        thread.join(PATIENCE_S)
        sock.close()


def make_settings(checkpoint: Path, **overrides: Any) -> Settings:
    """Settings for a test server: CPU, the given checkpoint, a tiny estimator beside it (2 EV
    for every photo), small batches."""
    values: dict[str, Any] = {
        "checkpoint": checkpoint,
        "estimator_checkpoint": tiny_estimator_file(checkpoint.parent),
        "device": "cpu",
        "max_batch_size": 4,
        # One lane: tests that hold the worker busy hold all of it.
        "inference_threads": 1,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(checkpoint: Path) -> Settings:
    """Default test settings on the tiny checkpoint."""
    return make_settings(checkpoint)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ready server on the tiny checkpoint, shared by a module's tests."""
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.safetensors"
    save_generator(path, tiny_generator())
    with serve(create_app(make_settings(path))) as url:
        yield url


def gated_app(settings: Settings) -> tuple[FastAPI, GatedGenerator]:
    """An app that serves a GatedGenerator instead of loading a checkpoint."""
    generator = GatedGenerator()
    app = create_app(settings, load_model=lambda _settings, device: generator.to(device))
    return app, generator


def random_image(height: int, width: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A random uint8 image."""
    rng = np.random.default_rng(seed)
    shape = (height, width, channels) if channels > 1 else (height, width)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def image_bytes(array: np.ndarray, fmt: str = "PNG", **options: Any) -> bytes:
    """Encodes an array with Pillow."""
    out = io.BytesIO()
    Image.fromarray(array).save(out, format=fmt, **options)
    return out.getvalue()


def metric_value(text: str, name: str) -> float:
    """The value of one exact sample line (name with labels) in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")
