"""Helpers shared by the deployment tests (a module of its own, so tests can import them)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]

# service_factory(checkpoint, cwd=..., command=..., extra_env=...) -> context giving the base URL
ServiceFactory = Callable[..., AbstractContextManager[str]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_photo(path: Path, width: int = 96, height: int = 64, seed: int = 0) -> Path:
    """Writes a small synthetic overexposed photo (format from the suffix) and returns its path."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 120 + 135 * x / max(width - 1, 1)
    green = 90 + 165 * y / max(height - 1, 1)
    blue = np.full_like(red, 170.0)
    image = np.stack([red, green, blue], axis=2) + rng.normal(0, 6, (height, width, 3))
    image[height // 4 : height // 2, width // 4 : width // 2] = 255  # a clipped patch
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
    return path


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminates a child process, killing it if it does not exit within a few seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=8)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
