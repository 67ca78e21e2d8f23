"""Tuning the tone curve on code statistics: the loss is the curve's exact error, the cache is
built from photos and bracket train pairs only, and tuning moves the curve and nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import load_generator
from model.tone import apply_curve, base_knots
from tests.conftest import TINY
from tests.training.bracket_files import ramp_photo, write_pair
from training import curve_samples, tune_curve
from training.curve_samples import code_stats
from training.tune_curve import CURVE_CODES, curve_mse


def test_the_loss_is_the_curves_error_on_every_value_it_alone_decides() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    target = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    knots = base_knots(torch.tensor([0.8]), 32)
    loss = float(curve_mse(torch.from_numpy(code_stats(image, target))[None], knots)[0])

    curved = apply_curve(torch.from_numpy(image / 255.0)[None].float(), knots)[0].double().numpy()
    decided = image < CURVE_CODES  # above, the fill of clipped values acts too
    direct = float(((curved - target / 255.0)[decided] ** 2).mean())
    assert loss == pytest.approx(direct, rel=1e-5)


def _folders(tmp_path: Path, split: str = "train") -> tuple[Path, Path, Path]:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(ramp_photo(i, 40, 56)).save(photos / f"{'aaa' if i < 2 else 'bbb'}_{i}.png")
    pairs = tmp_path / "pairs"
    write_pair(pairs, "p1", ramp_photo(9, 40, 56))
    csv = tmp_path / "pairs.csv"
    csv.write_text(f"name,split,ev\np1,{split},1.6\n")
    return photos, pairs, csv


def test_validation_pairs_are_refused(tmp_path: Path) -> None:
    photos, pairs, csv = _folders(tmp_path, split="val")
    with pytest.raises(ValueError, match="outside the train split"):
        curve_samples.build([photos], pairs, csv, size=TINY.working_size, workers=1)


def test_a_cache_and_a_tuning_run_move_only_the_curve(tmp_path: Path, checkpoint: Path) -> None:
    photos, pairs, csv = _folders(tmp_path)
    cache = tmp_path / "cache.npz"
    argv = ["--photos", str(photos), "--brackets", str(pairs), "--pairs-csv", str(csv)]
    argv += ["--working-size", str(TINY.working_size), "--workers", "1", "--out", str(cache)]
    assert curve_samples.main(argv) == 0
    data = curve_samples.load(cache)
    assert data["thumbs"].shape[1:] == (3, 128, 128)
    assert set(data["kind"]) >= {"pair", "real", "family", "c", "s"}
    assert set(data["collection"]) == {"aaa", "bbb", "brackets"}
    # Every sample counts every value of its photo once.
    assert (data["stats"][:, 0].sum(axis=1) == 40 * 56 * 3).all()

    out = tmp_path / "tuned.safetensors"
    argv = ["--cache", str(cache), "--checkpoint", str(checkpoint), "--out", str(out)]
    argv += ["--steps", "60", "--lr", "3e-3", "--batch", "8", "--hold-out", "bbb"]
    assert tune_curve.main(argv) == 0
    before, _ = load_generator(checkpoint)
    after, info = load_generator(out)
    assert info.metadata["curve_tuned"]["steps"] == 60
    moved = {
        name
        for (name, a), (_, b) in zip(
            before.state_dict().items(), after.state_dict().items(), strict=True
        )
        if not torch.equal(a, b)
    }
    assert moved and all(n.startswith(("exposure.embed.", "exposure.to_curve.")) for n in moved)
    rows = np.flatnonzero(data["collection"] != "bbb")
    assert tune_curve.curve_psnr(after.exposure, data, rows) > tune_curve.curve_psnr(
        before.exposure, data, rows
    )


def test_a_cache_for_another_canvas_is_refused(tmp_path: Path, checkpoint: Path) -> None:
    photos, pairs, csv = _folders(tmp_path)
    cache = tmp_path / "cache.npz"
    samples = curve_samples.build([photos], pairs, csv, size=128, workers=1)
    curve_samples.save(cache, samples, 128)
    argv = ["--cache", str(cache), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x")]
    assert tune_curve.main(argv) == 2
