"""The EV-sensitivity tables on tiny generated photos, with an untrained checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model import Generator, GeneratorConfig, linear_to_srgb, save_generator, srgb_to_linear
from tests.conftest import tiny_estimator_file
from training import ev_sensitivity as es
from training.metrics import psnr
from training.scenarios import make_case


def _photo(seed: int) -> np.ndarray:
    # Mid-tones with texture, and highlights that clip only at the top at 1 EV.
    rng = np.random.default_rng(seed)
    ramp = np.linspace(30, 180, 64)[None, :, None]
    return np.clip(ramp + rng.normal(0, 12, (48, 64, 3)), 0, 255).astype(np.uint8)


def test_the_inverse_is_best_at_the_true_ev_and_worse_either_side() -> None:
    photo = _photo(0)
    case = make_case("c", 1, photo)  # 1 EV
    scores = {e: psnr(photo, es.inverse_with_error(case, e)) for e in (-0.3, 0.0, 0.3)}
    assert scores[0.0] > scores[-0.3] + 1.0
    assert scores[0.0] > scores[0.3] + 1.0


def test_no_overexposure_and_no_error_returns_the_input() -> None:
    case = make_case("n", 0, _photo(1))
    assert np.array_equal(es.inverse_with_error(case, 0.0), case.input)


def test_brightness_moves_by_the_stops_of_exposure() -> None:
    dark = _photo(2) // 2
    linear = srgb_to_linear(dark / 255.0)
    brighter = np.round(linear_to_srgb(linear * 2.0) * 255).astype(np.uint8)
    (mean_dark, p99_dark, _), (mean_bright, p99_bright, _) = map(
        es.brightness_stops, (dark, brighter)
    )
    assert mean_bright - mean_dark == pytest.approx(1.0, abs=0.05)
    assert p99_bright - p99_dark == pytest.approx(1.0, abs=0.1)


def test_the_command_prints_all_three_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(_photo(10 + i)).save(folder / f"{i}.png")
    checkpoint = tmp_path / "g.safetensors"
    config = GeneratorConfig(base_channels=2, max_channels=4, depth=2, working_size=32)
    save_generator(checkpoint, Generator(config))
    estimator = tiny_estimator_file(tmp_path)
    args = ["--data", str(folder), "--checkpoint", str(checkpoint), "--estimator", str(estimator)]
    assert es.main(args) == 0
    printed = capsys.readouterr().out
    assert "| C: PSNR, camera inverse |" in printed
    assert "| N: PSNR, camera inverse |" in printed
    assert "log2 mean luminance" in printed
    for scenario in es.MODEL_SCENARIOS:
        assert f"| {scenario.upper()} | " in printed


def test_a_missing_folder_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert es.main(["--data", str(tmp_path / "none")]) == 2
    assert "error:" in capsys.readouterr().err
