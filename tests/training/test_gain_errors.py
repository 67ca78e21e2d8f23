"""The exposure-estimate report on tiny generated photos and a checkpoint with a known answer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from model import Generator, GeneratorConfig, save_generator
from training import gain_errors as ge
from training.photos import find_photos, load_photo

from .test_evaluate import _write_photos

CONFIG = GeneratorConfig(base_channels=2, max_channels=4, depth=2, working_size=32)


def _generator_answering(log_gain: float) -> Generator:
    """A generator whose estimator says `log_gain` for every photo."""
    generator = Generator(CONFIG)
    last = generator.exposure.head[-1]
    assert isinstance(last, nn.Linear)
    with torch.no_grad():
        last.bias.fill_(log_gain)
    return generator.eval()


def test_errors_are_the_estimate_minus_the_true_log_gain(tmp_path: Path) -> None:
    _write_photos(tmp_path)
    images = [im for im in map(load_photo, find_photos(tmp_path)) if im is not None]
    answer = math.log(0.5) / 2.2
    rows = ge.gain_errors(_generator_answering(answer), images, [0.5, 1.0])
    assert [r.photos for r in rows] == [3, 3]
    assert rows[0].bias == pytest.approx(0.0, abs=1e-6)
    assert rows[1].bias == pytest.approx(answer, abs=1e-6)
    assert rows[1].mean_abs == pytest.approx(-answer, abs=1e-6)
    assert rows[1].spread == pytest.approx(0.0, abs=1e-6)
    # The exact SPEC simulation leaves the trace; an untouched photo has none to read.
    assert (rows[0].traced, rows[1].traced) == (3, 0)
    assert rows[0].trace_max_abs < 1e-3 and math.isnan(rows[1].trace_max_abs)


def test_jpeg_inputs_carry_no_trace(tmp_path: Path) -> None:
    _write_photos(tmp_path)
    images = [im for im in map(load_photo, find_photos(tmp_path)) if im is not None]
    generator = _generator_answering(0.0)
    (row,) = ge.gain_errors(generator, images, [0.5], jpeg_quality=95)
    assert row.traced == 0 and row.photos == 3


def test_command_prints_one_row_per_tau(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_photos(tmp_path / "photos")
    path = tmp_path / "g.safetensors"
    save_generator(path, Generator(CONFIG))  # untrained: log-gain 0, i.e. "not overexposed"
    assert (
        ge.main(
            [
                "--data",
                str(tmp_path / "photos"),
                "--checkpoint",
                str(path),
                "--taus",
                "0.5",
                "1",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[2].startswith(f"| 0.5 | 3 | {-math.log(0.5) / 2.2:+.3f} |")
    assert lines[3].startswith("| 1 | 3 | +0.000 |")


def test_command_rejects_a_tau_outside_the_range(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        ge.main(["--data", str(tmp_path), "--checkpoint", "x", "--taus", "0"])
