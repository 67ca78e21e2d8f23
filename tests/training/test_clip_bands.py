"""The squared error split by how near the clip each input pixel was."""

from __future__ import annotations

import numpy as np
import pytest

from training.clip_bands import BANDS, band_errors, band_of_pixels, format_band_table


def _row(*pixels: tuple[int, int, int], dtype: type = np.uint8) -> np.ndarray:
    return np.array([pixels], dtype=dtype)


def test_each_pixel_falls_in_the_band_of_its_brightest_and_darkest_channel() -> None:
    source = _row(
        (100, 100, 100),
        (244, 10, 10),
        (245, 10, 10),
        (254, 250, 1),
        (255, 200, 9),
        (255, 255, 254),
        (255, 255, 255),
    )
    assert band_of_pixels(source).tolist() == [[0, 0, 1, 1, 2, 2, 3]]


def test_sixteen_bit_photos_use_their_own_top_code() -> None:
    source = _row((65535, 65535, 65535), (65535, 0, 0), (65534, 0, 0), (100, 0, 0), dtype=np.uint16)
    assert band_of_pixels(source).tolist() == [[3, 2, 1, 0]]
    # Errors are in 8-bit levels whatever the depth: 257 16-bit codes are one level.
    target = np.zeros_like(source)
    output = target.copy()
    output[0, 3, 0] = 257 * 3
    found = band_errors(band_of_pixels(source), output, target)
    assert found.errors[0] == pytest.approx(3.0 / 4)  # (3^2 + 0 + 0) / 3 channels / 4 pixels


def test_the_bands_add_up_to_the_mean_squared_error_and_only_where_it_is() -> None:
    rng = np.random.default_rng(0)
    source = rng.integers(200, 256, size=(40, 50, 3)).astype(np.uint8)
    source[:5] = 255  # a clipped strip: every band is there
    target = rng.integers(0, 256, size=source.shape).astype(np.uint8)
    output = rng.integers(0, 256, size=source.shape).astype(np.uint8)
    found = band_errors(band_of_pixels(source), output, target)
    mse = ((output.astype(float) - target.astype(float)) ** 2).mean()
    assert sum(found.errors) == pytest.approx(mse)
    assert sum(found.shares) == pytest.approx(1.0)
    assert all(s > 0 for s in found.shares)
    # Wrong only where every channel clipped: the other bands owe nothing.
    fixed = np.where((band_of_pixels(source) == 3)[..., None], output, target)
    only = band_errors(band_of_pixels(source), fixed, target)
    assert only.errors[:3] == (0.0, 0.0, 0.0) and only.errors[3] > 0


def test_float_images_are_refused() -> None:
    with pytest.raises(ValueError, match="integer"):
        band_of_pixels(np.zeros((2, 2, 3), dtype=np.float32))


def test_the_table_has_a_row_per_method_and_their_sums() -> None:
    source = _row((10, 10, 10), (250, 9, 9), (255, 0, 0), (255, 255, 255))
    target = np.zeros_like(source)
    found = {
        "identity": [band_errors(band_of_pixels(source), source, target)],
        "told_ev": [band_errors(band_of_pixels(source), target, target)],
    }
    table = format_band_table(found, {"told_ev": "checkpoint, told ev"})
    assert all(band in table for band in BANDS)
    assert "shares of the pixels: 25.0%, 25.0%, 25.0%, 25.0%" in table
    assert "| checkpoint, told ev | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |" in table
    identity = next(line for line in table.splitlines() if line.startswith("| identity"))
    cells = [float(c) for c in identity.strip("|").split("|")[1:]]
    assert cells[-1] == pytest.approx(sum(cells[:-1]))
