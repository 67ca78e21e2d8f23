"""overexpose_uint8 against SPEC section 1's formula, computed independently in float64."""

from __future__ import annotations

import numpy as np
import pytest

from model import exposure_gain, overexpose_uint8

ALL_LEVELS = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)


@pytest.mark.parametrize(("tau", "gamma"), [(0.5, 1 / 2.2), (0.35, 1 / 2.2), (0.7, 0.5), (1, 1)])
def test_matches_the_spec_formula_within_one_level(tau: float, gamma: float) -> None:
    x = ALL_LEVELS.astype(np.float64) / 255
    linear = x ** (1 / gamma)
    clipped = np.minimum(linear / tau, 1)
    spec = np.round(clipped**gamma * 255)
    assert np.abs(overexpose_uint8(ALL_LEVELS, tau, gamma).astype(float) - spec).max() <= 1


def test_poster_setting_and_identity() -> None:
    assert exposure_gain(0.5) == pytest.approx(1.370, abs=1e-3)
    out = overexpose_uint8(ALL_LEVELS)
    assert (out[ALL_LEVELS / 255 > 0.731] == 255).all()
    assert np.array_equal(overexpose_uint8(ALL_LEVELS, 1.0), ALL_LEVELS)


@pytest.mark.parametrize(("tau", "gamma"), [(0, 0.5), (1.1, 0.5), (0.5, 0), (0.5, 1.5)])
def test_rejects_values_out_of_range(tau: float, gamma: float) -> None:
    with pytest.raises(ValueError):
        exposure_gain(tau, gamma)
