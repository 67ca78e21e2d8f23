"""The per-collection table: each collection blind, with the estimator that never saw it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import tiny_estimator_file
from training.by_collection import collection_report
from training.evaluate import main
from training.metrics import psnr
from training.scenarios import make_case


def _row(report: str, name: str) -> list[str]:
    """The cells of `name`'s row; the last one, where the command printed each row as it went
    and then the whole table."""
    lines = [line for line in report.splitlines() if line.startswith(f"| {name} |")]
    return [cell.strip() for cell in lines[-1].strip("|").split("|")]


@pytest.fixture
def collections(tmp_path: Path) -> tuple[Path, Path, list[np.ndarray]]:
    """A folder with two collections (file prefixes abc and xyz) and an estimator folder that
    holds abc's held-out estimator only."""
    folder = tmp_path / "more"
    folder.mkdir()
    rng = np.random.default_rng(0)
    photos = []
    for name in ("abc_1", "abc_2", "abc_3", "xyz_1"):
        photo = rng.integers(20, 200, (40, 56, 3), dtype=np.uint8)
        Image.fromarray(photo).save(folder / f"{name}.png")
        photos.append(photo)
    estimators = tmp_path / "loco"
    estimators.mkdir()
    tiny_estimator_file(estimators, ev=1.0).rename(estimators / "abc.safetensors")
    return folder, estimators, photos[:3]


def test_each_collection_gets_its_own_estimator_and_every_photo_counts(
    collections: tuple[Path, Path, list[np.ndarray]], checkpoint: Path
) -> None:
    folder, estimators, abc = collections
    report = collection_report([folder], checkpoint, estimators)
    row = _row(report, "abc")
    assert row[1:3] == ["3", "held out"]
    # The held-out estimator is sure of 1 EV: every good photo gets it, and C's photos,
    # 0.5, 1 and 1.5 EV over in turn, are off by +0.5, 0 and -0.5.
    assert (row[5], row[6]) == ("1.00", "1.00")
    assert (row[9], row[10]) == ("+0.00", "0.33")
    assert row[11] == "3"  # PSNR over every photo by default
    identity = np.mean([psnr(p, make_case("n", i, p).input) for i, p in enumerate(abc)])
    assert row[3] == f"{identity:.2f}"
    # A collection with no held-out estimator is measured with the shipped one, and says so.
    assert _row(report, "xyz")[1:3] == ["1", "shipped"]
    # The spread is over held-out collections of 50 photos or more: none here.
    assert "spread" not in report


def test_psnr_limit_measures_the_first_photos_only(
    collections: tuple[Path, Path, list[np.ndarray]],
    checkpoint: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, estimators, _ = collections
    args = ["--collections", str(folder), "--checkpoint", str(checkpoint)]
    assert main([*args, "--estimators", str(estimators), "--psnr-limit", "2"]) == 0
    row = _row(capsys.readouterr().out, "abc")
    assert row[11] == "2"
    # The EV's figures stay over every photo.
    assert row[9:11] == ["+0.00", "0.33"]
    with pytest.raises(SystemExit):
        main(args)  # --collections needs --estimators
