"""training.fill_activity tells a generator whose fill responds from one whose sigmoid is pinned."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import save_generator
from tests.conftest import TINY, tiny_generator
from training.fill_activity import main, measure


def _warm_highlight() -> np.ndarray:
    """A warm ramp whose red channel clips over its right third, green and blue never."""
    ramp = np.linspace(150.0, 330.0, 96)[None, :, None] * np.array([1.0, 0.7, 0.6])
    photo: np.ndarray = np.clip(np.broadcast_to(ramp, (64, 96, 3)), 0, 255).astype(np.uint8)
    return photo


def test_a_fresh_fill_is_the_estimate_and_responds() -> None:
    generator = tiny_generator()
    with torch.no_grad():
        generator.to_fill.weight.zero_()  # a new generator: the fill is the physical estimate
    activity, peaks = measure(generator, _warm_highlight(), 1.0)
    assert activity.values > 0
    assert activity.pinned == 0.0
    assert activity.moved == pytest.approx(0.0, abs=1e-6)
    assert len(peaks) == len(generator.downs) + len(generator.ups)


def test_a_fill_driven_to_huge_negative_logits_is_reported_pinned() -> None:
    generator = tiny_generator()
    with torch.no_grad():
        generator.to_fill.weight.zero_()
        bias = generator.to_fill.bias
        assert bias is not None
        bias[0] = -1e4  # the luminance logit, as an exploded U-Net gives
    activity, _ = measure(generator, _warm_highlight(), 1.0)
    assert activity.pinned == 1.0
    assert activity.moved > 0.05
    assert activity.luma_logits[1] == pytest.approx(-1e4)


def test_the_command_prints_a_row_per_photo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tmp_path / "g.safetensors"
    save_generator(checkpoint, tiny_generator(), {})
    Image.fromarray(_warm_highlight()).save(tmp_path / "warm.png")
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(tmp_path / "dark.png")
    assert main([str(tmp_path), "--checkpoint", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "| warm.png |" in out and "| dark.png | 0 | - | - |" in out
    assert "Largest |activation|" in out


def test_no_photos_is_a_clean_error(tmp_path: Path, checkpoint: Path) -> None:
    assert main([str(tmp_path), "--checkpoint", str(checkpoint)]) == 2


def test_a_bounded_luminance_term_at_its_bound_is_reported_there_not_pinned() -> None:
    generator = tiny_generator(replace(TINY, fill_luma_range=4.0))
    with torch.no_grad():
        generator.to_fill.weight.zero_()
        bias = generator.to_fill.bias
        assert bias is not None
        bias[0] = -1e4  # the same runaway logit: the tanh holds the term at -4
    activity, _ = measure(generator, _warm_highlight(), 1.0)
    assert activity.pinned == 0.0
    assert activity.at_bound == 1.0
    assert activity.moved > 0.01


def test_an_unbounded_luminance_term_has_no_bound_to_sit_at() -> None:
    generator = tiny_generator()
    with torch.no_grad():
        generator.to_fill.weight.zero_()
    activity, _ = measure(generator, _warm_highlight(), 1.0)
    assert activity.at_bound is None
