"""SIGTERM to a real `uvicorn` process: /readyz turns 503 while it still serves for the drain
delay, then it refuses new connections, finishes the request in flight and exits 0; one that
cannot finish is ended by the shutdown bound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from model import save_generator
from tests.conftest import tiny_generator
from tests.deploy.deploy_helpers import REPO_ROOT, free_port

from .conftest import image_bytes, random_image

# Importing torch and warming up takes seconds on an idle machine, a minute on a busy one.
STARTUP_DEADLINE_S = 180.0
DRAIN_DELAY_S = 5.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
# No keep-alive: each request opens a new connection, as a load balancer's new request would.
http = httpx.Client(timeout=10, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0))


class HeldService:
    """A uvicorn subprocess serving tests.app.held_service, and the folder that steers it."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, folder: Path, log: Path):
        self.process = process
        self.url = url
        self.folder = folder
        self.log = log

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_for(self, name: str) -> None:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while not (self.folder / name).exists():
            assert time.monotonic() < deadline, f"no {name} file:\n{self.log_tail()}"
            assert self.process.poll() is None, f"the service exited:\n{self.log_tail()}"
            time.sleep(0.02)


@contextmanager
def held_service(tmp_path: Path, **env: str) -> Iterator[HeldService]:
    """Starts the service, waits until it is ready; kills it if the test left it running."""
    checkpoint = tmp_path / "tiny.safetensors"
    save_generator(checkpoint, tiny_generator())
    port = free_port()
    log = tmp_path / "service.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "tests.app.held_service:create_held_app",
    ]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    environ = {
        **os.environ,
        "EXPOSURE_CHECKPOINT": str(checkpoint),
        "EXPOSURE_DEVICE": "cpu",
        "HELD_SERVICE_DIR": str(tmp_path),
        **env,
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=environ, stdout=out, stderr=out)
    service = HeldService(process, f"http://127.0.0.1:{port}", tmp_path, log)
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while _status(f"{service.url}/readyz") != 200:
            assert process.poll() is None, f"the service exited:\n{service.log_tail()}"
            assert time.monotonic() < deadline, f"not ready in time:\n{service.log_tail()}"
            time.sleep(0.2)
        yield service
    finally:
        (tmp_path / "release").touch()
        if process.poll() is None:
            process.kill()
            process.wait(30)


def _status(url: str) -> int | None:
    """The status of a GET on a new connection; None when the connection is refused, or reset
    unanswered (a connection the kernel accepted just as the listener closed)."""
    try:
        return http.get(url).status_code
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
        return None


def _post_in_background(url: str) -> dict[str, object]:
    """POSTs a photo to /correct from a thread; the dict gets `status` or `error`."""
    result: dict[str, object] = {}
    files = {"image": ("a.png", image_bytes(random_image(32, 48)), "image/png")}

    def post() -> None:
        try:
            result["status"] = http.post(f"{url}/correct", files=files, timeout=120).status_code
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    result["thread"] = thread
    return result


def test_sigterm_drains_then_stops_accepting_finishes_in_flight_and_exits_0(
    tmp_path: Path,
) -> None:
    env = {"EXPOSURE_DRAIN_DELAY_S": str(DRAIN_DELAY_S), "EXPOSURE_SHUTDOWN_TIMEOUT_S": "60"}
    with held_service(tmp_path, **env) as service:
        in_flight = _post_in_background(service.url)
        service.wait_for("entered")

        signalled = time.monotonic()
        os.kill(service.process.pid, signal.SIGTERM)

        readyz = http.get(f"{service.url}/readyz")
        while readyz.status_code == 200:
            readyz = http.get(f"{service.url}/readyz")
        assert readyz.status_code == 503
        assert "draining" in readyz.json()["detail"]
        # Still served while draining: load balancers take time to stop sending requests.
        assert _status(f"{service.url}/healthz") == 200

        while _status(f"{service.url}/healthz") is not None:
            assert time.monotonic() - signalled < 60, "new connections still accepted"
            time.sleep(0.05)
        assert time.monotonic() - signalled >= DRAIN_DELAY_S - 0.5
        assert service.process.poll() is None, "exited before the request in flight ended"

        (service.folder / "release").touch()
        in_flight["thread"].join(60)  # type: ignore[attr-defined]
        assert in_flight.get("status") == 200, in_flight
        assert service.process.wait(60) == 0, service.log_tail()
        assert time.monotonic() - signalled < DRAIN_DELAY_S + 60


def test_a_request_that_never_ends_cannot_keep_the_process_alive(tmp_path: Path) -> None:
    env = {"EXPOSURE_DRAIN_DELAY_S": "0.5", "EXPOSURE_SHUTDOWN_TIMEOUT_S": "1.5"}
    with held_service(tmp_path, **env) as service:
        in_flight = _post_in_background(service.url)
        service.wait_for("entered")

        signalled = time.monotonic()
        os.kill(service.process.pid, signal.SIGTERM)

        status = service.process.wait(60)
        assert time.monotonic() - signalled < 2.0 + 10, "the bound did not hold"
        assert status == 1
        assert "exiting now" in service.log_tail()
        in_flight["thread"].join(10)  # type: ignore[attr-defined]
        assert "error" in in_flight
