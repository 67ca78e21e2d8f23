"""The estimator's cache and training command on a few generated photos and one bracket pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import EstimatorConfig, load_estimator
from model.exposure_features import FEATURE_COUNT
from tests.training.bracket_files import ramp_photo, write_pair
from training import train_estimator
from training.estimator_data import Mix, build, collection_of, load_table
from training.train_estimator import BRACKET_FOLDS, bracket_folds, pair_of, soft_labels


@pytest.mark.parametrize(
    ("path", "collection"),
    [
        ("photos/train/100007.jpg", "bsds"),
        ("photos/train/abbey_sun_x.jpg", "sunhays"),
        ("photos/extra/osie_1001.jpg", "osie"),
        ("photos/more/osie_1200.jpg", "osie"),
        ("photos/extra/set14_zebra.jpg", "set"),
        ("photos/more/in21k_n01_x.jpg", "in21k"),
        ("photos/eval/mcmaster-01.tif", "mcmaster"),
    ],
)
def test_a_photo_belongs_to_its_data_set(path: str, collection: str) -> None:
    assert collection_of(Path(path)) == collection


def test_soft_labels_keep_the_ev_as_their_mean() -> None:
    config = EstimatorConfig()
    evs = torch.tensor([0.0, 0.37, 1.5, 3.0, 3.7])
    labels = soft_labels(evs, config, smoothing=0.0)
    assert torch.allclose(labels.sum(dim=1), torch.ones(5))
    centres = torch.arange(config.bins) * config.bin_step
    assert torch.allclose(labels @ centres, evs.clamp(max=config.max_ev), atol=1e-5)


def test_the_cache_and_a_training_run(tmp_path: Path) -> None:
    photos = tmp_path / "photos" / "more"
    photos.mkdir(parents=True)
    for i in range(4):
        prefix = "aaa" if i < 2 else "bbb"
        Image.fromarray(ramp_photo(i)).save(photos / f"{prefix}_{i}.png")
    pairs = tmp_path / "pairs"
    write_pair(pairs, "p1", ramp_photo(9))
    csv = tmp_path / "pairs.csv"
    csv.write_text("name,ev\np1,1.6\n")

    table = build([photos], [pairs], csv, None, None, Mix(per_photo=3), bracket_samples=6)
    cache = tmp_path / "cache.npz"
    table.save(cache)
    data = load_table(cache)
    assert data["features"].shape == (4 * (3 + 2) + 6 + 1, FEATURE_COUNT)
    assert set(data["collection"]) == {"aaa", "bbb", "brackets"}
    assert set(data["scenario"][data["kind"] == "scenario"]) == {"n", "c"}

    # Strong highlight shoulders only, every other photo, without SPEC's cases: a second cache.
    mix = Mix(per_photo=2, zero_ev_prob=0.0, spec_prob=0.0, shoulder_prob=1.0)
    extra = build([photos], [], csv, None, None, mix, every=2, cases=False)
    assert len(extra.ev) == 2 * 2 and set(extra.kind) == {"camera"} and min(extra.ev) > 0

    out = tmp_path / "est.safetensors"
    loco = tmp_path / "loco"
    argv = ["--cache", str(cache), "--loco", "--epochs", "1", "--out", str(out)]
    argv += ["--pairs-csv", str(csv)]
    assert train_estimator.main([*argv, "--loco-dir", str(loco), "--overshoot", "1.4"]) == 0
    estimator, meta = load_estimator(out)
    assert estimator.config.overshoot == 1.4 and meta["epochs"] == 1
    assert {p.stem for p in loco.iterdir()} == {"aaa", "bbb", "brackets"}


def test_bracket_pairs_are_held_out_by_whole_scene_groups() -> None:
    names = [f"p{i}" for i in range(12)]
    data = {
        "name": np.array([*names, "photo.jpg|p3", "photo.jpg"]),
        "kind": np.array(["bracket"] * 12 + ["real_curve", "good"]),
        "split": np.array(["train"] * 14),
    }
    groups = {n: f"g{int(n[1:]) // 3}" for n in names}  # four groups of three pairs
    folds = bracket_folds(data, groups)
    assert len(folds) == min(BRACKET_FOLDS, 4)
    assert sorted(p for fold in folds for p in fold) == sorted(names)
    for fold in folds:
        assert len({groups[p] for p in fold}) * 3 == len(fold)
    # A photo made with a pair's response goes with that pair.
    assert list(pair_of(data)[-2:]) == ["p3", ""]
