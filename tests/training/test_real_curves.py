"""Real cameras' responses, measured on a pair and carried over to other photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from model import linear_to_srgb, srgb_to_linear
from training.estimator_data import Mix, build
from training.real_curves import RealCurve, load_real_curves, response_table
from training.train_estimator import training_rows


def _camera(codes: np.ndarray) -> np.ndarray:
    """A camera a stop over with a highlight shoulder: lifted, rolled off, then clipped."""
    v = np.minimum(1.0, srgb_to_linear(codes / 255.0) * 2.0)
    return np.round(255.0 * np.minimum(1.0, 1.3 * linear_to_srgb(v) / (linear_to_srgb(v) + 0.3)))


def _scene(seed: int, top: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, top + 1, (40, 50, 3)).astype(np.uint8)


def test_the_response_is_the_camera_where_the_good_frame_has_codes() -> None:
    good = _scene(0, top=200)
    exposed = _camera(good.astype(np.float64)).astype(np.uint8)
    table = response_table(good, exposed)
    expected = _camera(np.arange(256.0))
    assert np.array_equal(table[:201], expected[:201])
    # Past the good frame's brightest code: continued, still monotone and within 8 bits.
    assert (np.diff(table.astype(int)) >= 0).all() and table[255] >= table[200]


def test_a_shift_moves_the_exposure_before_the_response() -> None:
    table = np.asarray(_camera(np.arange(256.0)), dtype=np.uint8)
    curve = RealCurve("p", 1.2, table)
    photo = _scene(1)
    same, ev = curve.overexpose(photo)
    assert ev == 1.2 and np.array_equal(same, table[photo])
    brighter, ev_up = curve.overexpose(photo, 0.5)
    darker, ev_down = curve.overexpose(photo, -2.0)
    assert ev_up == 1.7 and ev_down == 0.0  # never below zero stops
    assert (brighter >= same).all() and (darker <= same).all()
    assert brighter.mean() > same.mean() > darker.mean()


def test_photos_overexposed_with_real_responses_leave_with_the_brackets(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs"
    for sub in ("input", "target"):
        (pairs / sub).mkdir(parents=True)
    good = _scene(2)
    Image.fromarray(_camera(good.astype(np.float64)).astype(np.uint8)).save(pairs / "input/p.png")
    Image.fromarray(good).save(pairs / "target/p.png")
    csv = tmp_path / "pairs.csv"
    csv.write_text("name,ev\np,1.4\n")
    (curve,) = load_real_curves(pairs, csv)
    assert curve.name == "p" and curve.ev == 1.4

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(_scene(10 + i)).save(photos / f"abc_{i}.png")
    mix = Mix(per_photo=3, zero_ev_prob=0.0, real_curve_prob=1.0, real_shift=(0.0, 0.0))
    table = build([photos], [], csv, None, None, mix, cases=False, real_curves=pairs)
    assert set(table.kind) == {"real_curve"} and set(table.ev) == {1.4}
    data = {
        "split": np.asarray(table.split),
        "kind": np.asarray(table.kind),
        "collection": np.asarray(table.collection),
    }
    assert len(training_rows(data, [])) == 6
    # What the brackets teach is not in the estimator that has them held out.
    assert len(training_rows(data, ["brackets"])) == 0
