"""Training's arithmetic on a GPU: bf16 autocast without overflow or lost losses, and torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import read_info
from training.config import PRESETS
from training.losses import MultiScaleSSIMLoss, build_perceptual_loss
from training.trainer import Trainer

REPO_ROOT = Path(__file__).resolve().parents[2]


def _smooth_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A bright smooth gradient and the same gradient slightly changed: a near-perfect output."""
    ramp = torch.linspace(0.55, 0.95, 96)
    target = (ramp[None, :] * ramp[:, None].flip(0) ** 0.1).expand(1, 3, 96, 96).contiguous()
    wave = 0.01 * torch.sin(torch.linspace(0, 6.28, 96))
    return (target + wave[None, :]).clamp(0, 1), target


def test_the_ssim_loss_keeps_float32_inside_bf16_autocast() -> None:
    output, target = _smooth_pair()
    loss = MultiScaleSSIMLoss()
    exact = loss(output, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss(output, target)
    assert mixed.dtype == torch.float32
    assert exact.item() < 0.05  # a near-perfect output scores near 0 ...
    assert abs(mixed.item() - exact.item()) < 1e-6  # ... and autocast does not change it


def test_training_autocasts_to_bf16_whose_range_is_float32s() -> None:
    # The generator has no normalisation, and its decoder reaches about 1.2e5 on real photos:
    # past fp16's 65,504, within bf16's 3.4e38 (the exponent range of float32). Training in
    # bf16 cannot overflow where float32 does not, so there is no loss scaling to get wrong.
    trainer = Trainer(PRESETS["tiny"], build_perceptual_loss(None), torch.device("cpu"))
    assert trainer.autocast.fast_dtype == torch.bfloat16
    assert torch.finfo(torch.bfloat16).max == pytest.approx(torch.finfo(torch.float32).max, 0.01)


def test_torchrun_with_one_process_trains_through_a_process_group(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        low = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(low).resize((80, 60), Image.Resampling.BICUBIC).save(photos / f"{i}.png")
    out = tmp_path / "run"
    torchrun = Path(sys.executable).parent / "torchrun"
    args = [str(torchrun), "--standalone", "--nproc-per-node", "1", "-m", "training.train"]
    args += ["--data", str(photos), "--out", str(out), "--preset", "tiny", "--steps", "1"]
    args += ["--device", "cpu", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    info = read_info(out / "generator.safetensors")
    assert info.metadata["world_size"] == 1
    assert info.metadata["process_group"] == "gloo"  # DDP ran, with one process
