"""An app whose forward passes wait for a file, served by a real uvicorn in a subprocess:

    uvicorn --factory tests.app.held_service:create_held_app

With HELD_SERVICE_DIR set, a forward pass over a photo (not the warm-up's zeros) creates
`entered` there and waits until `release` exists, so a test holds a request in flight.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI

from app.main import create_app, load_checkpoint
from app.settings import Settings
from model import Generator

# Longer than any test waits: a test that forgets the release file fails, it does not hang.
HOLD_LIMIT_S = 120.0


def _held(generator: Generator, folder: Path) -> Generator:
    predict = generator.predict

    def held_predict(x: torch.Tensor, ev: Any = None, thumb: torch.Tensor | None = None) -> Any:
        if bool(x.any()):
            (folder / "entered").touch()
            deadline = time.monotonic() + HOLD_LIMIT_S
            while not (folder / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return predict(x, ev, thumb)

    generator.predict = held_predict  # type: ignore[method-assign]
    return generator


def create_held_app() -> FastAPI:
    """The service on EXPOSURE_CHECKPOINT, its forward passes held at HELD_SERVICE_DIR."""
    folder = Path(os.environ["HELD_SERVICE_DIR"])

    def load(settings: Settings, device: torch.device) -> Generator:
        return _held(load_checkpoint(settings, device), folder)

    return create_app(load_model=load)
