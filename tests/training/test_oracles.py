"""The oracles of SPEC's row R: the best gain and the best monotone curves, given the target."""

from __future__ import annotations

import numpy as np
import pytest

from training import oracles as o
from training.metrics import psnr


def _input(seed: int = 0, top: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, top, (48, 40, 3)).astype(np.uint8)


def _squared_error(target: np.ndarray, image: np.ndarray) -> float:
    return float(np.sum((target.astype(np.float64) - image) ** 2))


def test_gain_oracle_recovers_a_known_gain() -> None:
    image = _input(0, 180)
    target = np.clip(np.round(image * 0.7), 0, 255).astype(np.uint8)
    gain = o.best_gain(image, target)
    assert gain == pytest.approx(0.7, abs=3e-3)
    # Exact ties (x * 0.7 = k + 0.5) round half to even at exactly 0.7 only: off by one there.
    diff = o.apply_gain(image, gain).astype(int) - target
    assert np.abs(diff).max() <= 1 and psnr(target, o.apply_gain(image, gain)) > 45


def test_gain_oracle_finds_a_brightening_gain_with_clipping() -> None:
    image = _input(1)
    target = np.clip(np.round(image * 1.5), 0, 255).astype(np.uint8)
    assert o.best_gain(image, target) == pytest.approx(1.5, abs=6e-3)


def test_isotonic_pools_adjacent_violators_by_weight() -> None:
    fitted = o.isotonic(np.array([1.0, 3.0, 2.0, 4.0, 0.0]), np.array([1.0, 1.0, 3.0, 1.0, 1.0]))
    np.testing.assert_allclose(fitted, [1.0, *[13 / 6] * 4])  # (3 + 2*3 + 4 + 0) / 6
    assert np.all(np.diff(fitted) >= 0)


def test_curve_oracle_recovers_a_known_monotone_table_exactly() -> None:
    rng = np.random.default_rng(2)
    image = _input(3)
    luts = np.sort(rng.integers(0, 256, (3, 256)), axis=1).astype(np.uint8)
    target = o.apply_curves(image, luts)
    fitted = o.best_curves(image, target)
    assert fitted.shape == (3, 256) and fitted.dtype == np.uint8
    used = [np.unique(image[..., c]) for c in range(3)]
    for c in range(3):
        np.testing.assert_array_equal(fitted[c][used[c]], luts[c][used[c]])
    np.testing.assert_array_equal(o.apply_curves(image, fitted), target)


def test_curves_are_monotone_and_never_worse_than_identity_or_the_gain() -> None:
    image = _input(4, 220)
    rng = np.random.default_rng(5)
    # A tone curve, a cast and noise: no monotone table fits exactly.
    curve = 255 * (image / 255.0) ** np.array([0.7, 0.8, 0.9]) + rng.normal(0, 12, image.shape)
    target = np.clip(np.round(curve), 0, 255).astype(np.uint8)
    per_channel = o.best_curves(image, target)
    shared = o.best_curves(image, target, shared=True)
    assert np.all(np.diff(per_channel.astype(int), axis=1) >= 0)
    assert np.all(shared == shared[0])
    errors = {
        name: _squared_error(target, out) for name, out in o.oracle_outputs(image, target).items()
    }
    gain_error = _squared_error(target, o.apply_gain(image, o.best_gain(image, target)))
    assert errors["gain_oracle"] == gain_error
    assert errors["curve_oracle"] <= errors["shared_curve_oracle"] <= gain_error
    assert errors["shared_curve_oracle"] <= _squared_error(target, image)
    assert psnr(target, o.apply_curves(image, per_channel)) > psnr(target, image) + 3


def test_code_stats_reject_mismatched_images() -> None:
    with pytest.raises(ValueError, match="one size"):
        o.code_stats(_input(0), _input(0)[:10])
