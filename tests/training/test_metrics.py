"""SPEC section 2 metrics on tiny synthetic images with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training import metrics

# Sharma, Wu & Dalal 2005, table 1: L1 a1 b1, L2 a2 b2, expected CIEDE2000.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0011, -2.49), 4.7461),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((22.7233, 20.0904, -46.694), (23.0331, 14.973, -42.5619), 2.0373),
    ((90.8027, -2.0831, 1.441), (91.1528, -1.6435, 0.0447), 1.4441),
    ((2.0776, 0.0795, -1.135), (0.9033, -0.0636, -0.5514), 0.9082),
]


def _photo(seed: int = 0, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)


def test_identical_images_score_perfectly() -> None:
    img = _photo()
    s = metrics.score(img, img)
    assert s.psnr == metrics.PSNR_CAP_DB
    assert s.ssim == pytest.approx(1.0)
    assert s.lum == pytest.approx(100.0)
    assert s.con == pytest.approx(100.0)
    assert s.sat == pytest.approx(100.0)
    assert s.delta_e00 == 0.0


def test_psnr_of_constant_offset_is_analytic() -> None:
    ref = np.full((16, 16, 3), 100, dtype=np.uint8)
    img = ref + np.uint8(5)
    assert metrics.psnr(ref, img) == pytest.approx(10 * math.log10(255**2 / 25))


def test_psnr_is_capped_for_tiny_errors() -> None:
    ref = np.zeros((200, 200, 3), dtype=np.uint8)
    img = ref.copy()
    img[0, 0, 0] = 1  # MSE 1/120000: uncapped PSNR would be about 99 dB
    assert metrics.psnr(ref, img) == metrics.PSNR_CAP_DB


def test_ssim_drops_with_noise_and_is_symmetric() -> None:
    ref = _photo(1)
    noisy = np.clip(ref.astype(int) + _photo(2).astype(int) // 8 - 16, 0, 255).astype(np.uint8)
    value = metrics.ssim(ref, noisy)
    assert 0.0 < value < 1.0
    assert metrics.ssim(noisy, ref) == pytest.approx(value)


def test_luminance_similarity_of_uniform_images() -> None:
    # Flat images: the l-map is constant, (2 a b + C1) / (a^2 + b^2 + C1), and the c-map is 1.
    a, b = 0.4, 0.6
    ref = np.full((16, 16, 3), round(a * 255), dtype=np.uint8)
    img = np.full((16, 16, 3), round(b * 255), dtype=np.uint8)
    a, b = round(a * 255) / 255, round(b * 255) / 255
    expected = 100 * (2 * a * b + metrics.C1) / (a * a + b * b + metrics.C1)
    assert metrics.luminance_similarity(ref, img) == pytest.approx(expected, rel=1e-5)
    assert metrics.contrast_similarity(ref, img) == pytest.approx(100.0)


def test_saturation_of_grey_and_black_is_zero() -> None:
    grey = np.full((16, 16, 3), 128, dtype=np.uint8)
    black = np.zeros((16, 16, 3), dtype=np.uint8)
    # Both have S = 0 everywhere (black by the max = 0 convention): identical saturation planes.
    assert metrics.saturation_similarity(grey, black) == pytest.approx(100.0)
    red = np.zeros((16, 16, 3), dtype=np.uint8)
    red[..., 0] = 200
    assert metrics.saturation_similarity(grey, red) < 1.0


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA_PAIRS)
def test_ciede2000_matches_sharma_pairs(
    lab1: tuple[float, ...], lab2: tuple[float, ...], expected: float
) -> None:
    assert float(metrics.delta_e00_lab(np.array(lab1), np.array(lab2))) == pytest.approx(
        expected, abs=1e-4
    )
    assert float(metrics.delta_e00_lab(np.array(lab2), np.array(lab1))) == pytest.approx(
        expected, abs=1e-4
    )


def test_ciede2000_is_vectorised() -> None:
    lab1 = np.array([p[0] for p in SHARMA_PAIRS])
    lab2 = np.array([p[1] for p in SHARMA_PAIRS])
    expected = np.array([p[2] for p in SHARMA_PAIRS])
    np.testing.assert_allclose(metrics.delta_e00_lab(lab1, lab2), expected, atol=1e-4)


def test_srgb_to_lab_white_and_black() -> None:
    pixels = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    lab = metrics.srgb_to_lab(pixels)
    np.testing.assert_allclose(lab[0, 0], [100.0, 0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(lab[0, 1], [0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(lab[0, 2], [53.24, 80.09, 67.20], atol=0.02)


def test_mismatched_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="same size"):
        metrics.score(_photo(size=32), _photo(size=16))


def test_mean_scores_averages_each_metric() -> None:
    a = metrics.Scores(10, 0.5, 90, 80, 70, 3)
    b = metrics.Scores(20, 1.0, 100, 100, 90, 1)
    assert metrics.mean_scores([a, b]) == metrics.Scores(15, 0.75, 95, 90, 80, 2)
