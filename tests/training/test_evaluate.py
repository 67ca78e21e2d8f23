"""The evaluation script on a folder of tiny generated photos and an untrained checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model import Generator, GeneratorConfig, save_generator
from training import evaluate as ev
from training.photos import find_photos


def _write_photos(folder: Path) -> None:
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.png", "sub/b.png", "c.png"]):
        # Smooth gradients plus noise: bright enough that tau = 0.5 clips part of each photo.
        ramp = np.linspace(60 + 40 * i, 250, 48)[None, :, None]
        img = np.clip(ramp + rng.normal(0, 10, (40, 48, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / name)
    (folder / "notes.txt").write_text("not a photo")
    (folder / "broken.png").write_bytes(b"not a png")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    _write_photos(tmp_path / "photos")
    return tmp_path / "photos"


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "g.safetensors"
    config = GeneratorConfig(base_channels=2, max_channels=4, depth=2, working_size=32)
    save_generator(path, Generator(config))
    return path


def test_photos_are_found_recursively_in_sorted_order(photos: Path) -> None:
    names = [p.relative_to(photos).as_posix() for p in find_photos(photos)]
    assert names == ["a.png", "broken.png", "c.png", "sub/b.png"]


def test_scenario_taus() -> None:
    assert ev.scenario_taus("s1", 4) == [0.5] * 4
    assert ev.scenario_taus("s2", 4) == [0.35, 0.5, 0.7, 0.35]
    with pytest.raises(ValueError, match="s1"):
        ev.scenario_taus("s3", 1)


def test_untrained_checkpoint_matches_identity(
    photos: Path, checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    results = ev.evaluate(photos, "s2", checkpoint=checkpoint, out=out, learned_gain=True)
    assert "skipping unreadable photo" in caplog.text and "broken.png" in caplog.text
    assert list(results) == [
        "identity",
        "inverse_true_tau",
        "inverse_tau_0.5",
        "checkpoint",
        "checkpoint_learned_gain",
    ]
    # An untrained generator starts as the identity: it returns the overexposed input...
    learned = results["checkpoint_learned_gain"]
    assert learned.psnr == pytest.approx(results["identity"].psnr, abs=0.05)
    assert results["inverse_true_tau"].psnr > results["identity"].psnr
    # ... but the service reads the exact gain from the histogram trace the simulation leaves.
    assert results["checkpoint"].psnr > learned.psnr + 3
    report = json.loads((out / "results.json").read_text())
    assert report["photos"] == 3
    assert set(report["results"]) == set(results)
    sides = sorted(p.name for p in out.glob("*.png"))
    assert sides == ["a.png", "c.png", "sub__b.png"]
    with Image.open(out / "a.png") as img:
        assert img.size == (4 * 48, 40)


def test_command_line_prints_the_table(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ev.main(["--data", str(photos), "--scenario", "s1", "--upscale", "2"]) == 0
    table = capsys.readouterr().out
    assert "| identity (input returned) |" in table
    assert "tau fixed at 0.5" not in table
    assert "ΔE00" in table


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    assert ev.main(["--data", str(tmp_path), "--scenario", "s1"]) == 2


def test_told_tau_row_uses_the_true_gain(photos: Path, checkpoint: Path) -> None:
    results = ev.evaluate(photos, "s1", checkpoint=checkpoint, told_tau=True)
    assert list(results)[-1] == "checkpoint_told_tau"
    # Told tau, even an untrained generator is the trivial inverse wherever nothing clipped,
    # and its untrained fill (the middle of each clipped value's range) is no worse than the
    # inverse's lower end of that range on these mostly bright photos.
    told, inverse = results["checkpoint_told_tau"], results["inverse_true_tau"]
    assert told.psnr > results["identity"].psnr + 3
    assert told.psnr >= inverse.psnr - 0.5
