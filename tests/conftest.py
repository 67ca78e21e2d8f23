"""Shared fixtures: tiny generators, estimators and checkpoints, made fresh for each test."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model import (
    EstimatorConfig,
    ExposureEstimator,
    Generator,
    GeneratorConfig,
    save_estimator,
    save_generator,
)

# Tiny models gain nothing from intra-op threads, and on a 2-core CI machine they fight.
torch.set_num_threads(1)

TINY = GeneratorConfig(base_channels=4, max_channels=8, depth=3, working_size=64)


def tiny_generator(config: GeneratorConfig = TINY, seed: int = 0) -> Generator:
    """A small generator that estimates 2 EV for any photo, takes it back with the camera
    inverse unbent (its curve residual stays zero), and fills clipped values; in eval mode."""
    torch.manual_seed(seed)
    generator = Generator(config)
    with torch.no_grad():
        generator.exposure.to_ev.bias.fill_(0.0)  # estimates 2 EV
        generator.to_fill.weight.normal_(0.0, 0.1)
        for name, param in generator.named_parameters():
            if name.endswith("strength"):
                param.fill_(0.05)  # exercise the eval-mode noise path
    return generator.eval().requires_grad_(False)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A tiny generator checkpoint in a temporary folder."""
    path = tmp_path / "tiny.safetensors"
    save_generator(path, tiny_generator(), {"note": "test"})
    return path


def tiny_estimator(ev: float = 2.0) -> ExposureEstimator:
    """A small estimator that is sure every photo is `ev` stops over (a multiple of 0.1)."""
    estimator = ExposureEstimator(EstimatorConfig(hidden=4))
    last = estimator.net[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-20.0)
        last.bias[round(ev / estimator.config.bin_step)] = 20.0
    return estimator.eval().requires_grad_(False)


def tiny_estimator_file(folder: Path, ev: float = 2.0) -> Path:
    """A tiny estimator artifact in `folder` (written once)."""
    path = folder / f"tiny-estimator-{ev:.1f}.safetensors"
    if not path.exists():
        save_estimator(path, tiny_estimator(ev), {"note": "test"})
    return path


@pytest.fixture
def estimator_checkpoint(tmp_path: Path) -> Path:
    """A tiny estimator artifact (2 EV for every photo) in a temporary folder."""
    return tiny_estimator_file(tmp_path)
