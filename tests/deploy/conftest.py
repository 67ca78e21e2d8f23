"""Fixtures for the deployment tests: a tiny checkpoint and the real service on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import tiny_estimator_file
from tests.deploy.deploy_helpers import REPO_ROOT, ServiceFactory, free_port, stop_process

# Importing torch and warming up takes seconds on an idle machine, a minute on a busy one.
STARTUP_DEADLINE_S = 180.0


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of a generator with a few channels: fast to load, untrained."""
    from model import Generator, GeneratorConfig, save_generator

    path = tmp_path_factory.mktemp("checkpoint") / "tiny.safetensors"
    config = GeneratorConfig(base_channels=4, max_channels=8, depth=3, working_size=64)
    save_generator(path, Generator(config))
    return path


def _tail(log_path: Path | None) -> str:
    return log_path.read_text(errors="replace")[-3000:] if log_path else ""


@contextmanager
def _run_service(
    checkpoint: Path,
    *,
    cwd: Path = REPO_ROOT,
    command: list[str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    port = free_port()
    command = command or ["uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "8000"]
    # The command as written (e.g. the Dockerfile's CMD), on a free loopback port instead.
    command = [*command]
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    if command[0] == "uvicorn":
        command = [sys.executable, "-m", *command]
    env = {
        **os.environ,
        "EXPOSURE_CHECKPOINT": str(checkpoint),
        "EXPOSURE_ESTIMATOR_CHECKPOINT": str(tiny_estimator_file(checkpoint.parent)),
        "EXPOSURE_DEVICE": "cpu",
        "EXPOSURE_LOG_LEVEL": "warning",
        # Stopped by SIGTERM after each test: no load balancer here to wait for.
        "EXPOSURE_DRAIN_DELAY_S": "0",
        **(extra_env or {}),
    }
    log_file = open(log_path or os.devnull, "wb")  # noqa: SIM115 (closed in finally)
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log_file, stderr=log_file)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the service exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the service was not ready within {STARTUP_DEADLINE_S} s:\n{_tail(log_path)}"
                )
            time.sleep(0.2)
        yield base_url
    finally:
        stop_process(process)
        log_file.close()


@pytest.fixture(scope="session")
def service_factory(tmp_path_factory: pytest.TempPathFactory) -> ServiceFactory:
    """Starts `uvicorn app.main:app` (or a given command) on a free port; yields its base URL."""

    def start(checkpoint: Path, **kwargs: object) -> AbstractContextManager[str]:
        kwargs.setdefault("log_path", tmp_path_factory.mktemp("service") / "service.log")
        return _run_service(checkpoint, **kwargs)  # type: ignore[arg-type]

    return start


@pytest.fixture(scope="session")
def service_url(service_factory: ServiceFactory, tiny_checkpoint: Path) -> Iterator[str]:
    """One running service shared by the deployment tests (tiny checkpoint, CPU)."""
    with service_factory(tiny_checkpoint) as url:
        yield url
