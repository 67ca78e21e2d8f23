"""The exposure estimator: its features, its decision, its artifact, and the shipped one on a
few real photos."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from model import (
    EstimatorConfig,
    EstimatorError,
    ExposureEstimator,
    camera_overexpose_uint8,
    load_estimator,
    prepare,
    save_estimator,
    save_generator,
)
from model.estimator import SHIPPED_ESTIMATOR, error_cost
from model.exposure_features import (
    FEATURE_COUNT,
    FEATURE_GROUPS,
    canvas_features,
    exposure_features,
    feature_view,
)
from tests.conftest import tiny_estimator, tiny_generator

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "photos" / "eval"


def _photo(seed: int = 0, height: int = 120, width: int = 160) -> np.ndarray:
    """A smooth synthetic scene: gradients and a few soft blobs, mid-grey on average."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = 0.25 + 0.35 * yy[..., None] * rng.uniform(0.5, 1.0, 3) + 0.1 * xx[..., None]
    for _ in range(4):
        cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        base = base + 0.3 * blob[..., None] * rng.uniform(0.2, 1.0, 3)
    image: np.ndarray = np.clip(np.round(base * 255), 0, 255).astype(np.uint8)
    return image


def _features(image: np.ndarray) -> torch.Tensor:
    canvas = prepare(image, 512)
    return canvas_features(canvas.tensor, canvas.low_height, canvas.low_width)


def test_features_have_their_size_and_groups_and_are_finite_on_odd_photos() -> None:
    assert sum(s.stop - s.start for s in FEATURE_GROUPS.values()) == FEATURE_COUNT
    for shape in [(1, 1), (1, 900), (7, 3), (120, 160), (700, 1100)]:
        image = np.random.default_rng(0).integers(0, 256, (*shape, 3)).astype(np.uint8)
        features = _features(image)
        assert features.shape == (FEATURE_COUNT,) and bool(features.isfinite().all())
    for value in (0, 255):
        flat = np.full((64, 64, 3), value, np.uint8)
        assert bool(_features(flat).isfinite().all())


def test_features_see_only_the_photo_inside_its_canvas() -> None:
    image = _photo(1, 90, 200)
    canvas = prepare(image, 256)
    direct = exposure_features(torch.from_numpy(image).permute(2, 0, 1).float() / 255)
    assert torch.allclose(canvas_features(canvas.tensor, 90, 200), direct)


def test_the_feature_view_averages_whole_blocks() -> None:
    x = torch.rand(3, 600, 301)
    view = feature_view(x)  # k = 3: 200 x 100
    assert view.shape == (3, 200, 100)
    assert torch.allclose(view[:, 0, 0], x[:, :3, :3].mean(dim=(1, 2)), atol=1e-6)
    small = torch.rand(3, 40, 30)
    assert torch.equal(feature_view(small), small)


def test_overexposure_shows_in_the_clipping_and_highlight_features() -> None:
    good = _photo(2)
    over = camera_overexpose_uint8(good, 1.5)
    clipping = FEATURE_GROUPS["clipping"]
    fg, fo = _features(good)[clipping], _features(over)[clipping]
    assert float(fo[:3].sum()) > float(fg[:3].sum()) + 0.05  # more clipped in every channel


def test_error_cost_follows_the_measured_table_and_is_asymmetric() -> None:
    errors = torch.tensor([-0.2, 0.0, 0.2, -1.0, 1.0])
    cost = error_cost(errors)
    assert cost[:3].tolist() == pytest.approx([1.43, 0.0, 3.84])
    assert float(cost[4]) > float(cost[3]) > float(cost[0])
    assert float(error_cost(torch.tensor([0.2]), overshoot=2.0)[0]) == pytest.approx(7.68)


def _sure(estimator: ExposureEstimator, probs: dict[float, float]) -> torch.Tensor:
    p = torch.zeros(1, estimator.config.bins)
    for ev, mass in probs.items():
        p[0, round(ev / estimator.config.bin_step)] = mass
    return p


def test_the_decision_is_the_least_expected_cost_and_leans_low_when_unsure() -> None:
    estimator = ExposureEstimator(EstimatorConfig())
    assert float(estimator.decide(_sure(estimator, {0.0: 1.0}))[0]) == 0.0
    assert float(estimator.decide(_sure(estimator, {1.5: 1.0}))[0]) == pytest.approx(1.5)
    unsure = _sure(estimator, {1.0: 0.5, 1.4: 0.5})
    choice = float(estimator.decide(unsure)[0])
    assert 1.0 <= choice < 1.2  # overshooting costs more than undershooting
    # Mostly good, a little chance of a mild overexposure: left alone.
    assert float(estimator.decide(_sure(estimator, {0.0: 0.7, 0.4: 0.3}))[0]) == 0.0
    estimator.set_costs(overshoot=3.0)
    assert float(estimator.decide(unsure)[0]) <= choice


def test_an_estimator_round_trips_with_its_decision(tmp_path: Path) -> None:
    estimator = tiny_estimator(1.2)
    estimator.set_costs(overshoot=1.4)
    path = tmp_path / "e.safetensors"
    save_estimator(path, estimator, {"note": "x"})
    loaded, meta = load_estimator(path)
    assert meta == {"note": "x"} and loaded.config == estimator.config
    features = torch.randn(3, FEATURE_COUNT)
    assert torch.equal(loaded.estimate(features), estimator.estimate(features))
    assert loaded.estimate(features).tolist() == pytest.approx([1.2] * 3)


def test_bad_estimator_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EstimatorError, match="not found"):
        load_estimator(tmp_path / "absent.safetensors")
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(EstimatorError, match="not a safetensors file"):
        load_estimator(evil)
    generator = tmp_path / "g.safetensors"
    save_generator(generator, tiny_generator())
    with pytest.raises(EstimatorError, match="not an estimator"):
        load_estimator(generator)
    other = ExposureEstimator(EstimatorConfig(features=FEATURE_COUNT, feature_version="old/0"))
    stale = tmp_path / "stale.safetensors"
    save_estimator(stale, other)
    with pytest.raises(EstimatorError, match="trained on old/0"):
        load_estimator(stale)


@pytest.mark.skipif(
    not SHIPPED_ESTIMATOR.exists() or not PHOTOS.is_dir(),
    reason="needs the shipped estimator and the eval photos beside the repository",
)
def test_the_shipped_estimator_leaves_good_photos_and_sees_overexposed_ones() -> None:
    """Every ninth eval photo as a JPEG (never trained on), and the same +1.5 EV camera-like:
    most good ones get under 0.3 stops, most overexposed ones over 0.8 (a few photos are
    ambiguous: a snowfield really is that bright)."""
    from training.photos import find_photos, load_photo
    from training.scenarios import jpeg_round_trip

    estimator, _ = load_estimator(SHIPPED_ESTIMATOR)
    good, over = [], []
    for path in find_photos(PHOTOS)[::9]:
        photo = load_photo(path)
        assert photo is not None
        good.append(float(estimator.estimate(_features(jpeg_round_trip(photo)[1])[None])[0]))
        exposed = jpeg_round_trip(camera_overexpose_uint8(photo, 1.5))[1]
        over.append(float(estimator.estimate(_features(exposed)[None])[0]))
    assert len(good) == 10
    assert sum(ev < 0.3 for ev in good) >= 8, good
    assert sum(ev > 0.8 for ev in over) >= 8, over


def test_the_shipped_estimator_sees_real_overexposure_and_leaves_its_targets() -> None:
    """The 14 real bracket val pairs (never trained on): the overexposed frames get most of
    their pairs.csv EV back on average (measured: 0.51 stops short of 1.71, the generator's own
    head 0.41 short), the well-exposed frames of the same scenes about nothing."""
    import csv

    from tests.real_photos import shared_file, shared_photo

    estimator, _ = load_estimator(SHIPPED_ESTIMATOR)
    rows = csv.DictReader(shared_file("brackets/pairs.csv").open(newline=""))
    pairs = [
        (r["input_file"], r["target_file"], float(r["ev"])) for r in rows if r["split"] == "val"
    ]
    errors: list[float] = []
    targets: list[float] = []
    for exposed, target, ev in pairs:
        for relative, out in ((exposed, errors), (target, targets)):
            features = _features(shared_photo(f"brackets/{relative}"))
            estimate = float(estimator.estimate(features[None])[0])
            out.append(estimate - ev if out is errors else estimate)
    assert len(errors) == 14
    assert -0.7 < float(np.mean(errors)) < 0.15, errors
    assert float(np.mean(targets)) < 0.1, targets
