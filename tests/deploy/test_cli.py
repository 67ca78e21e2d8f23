"""The `exposure` command on files and folders: tree and formats kept, failures reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from model import overexpose_uint8
from tests.conftest import tiny_estimator_file
from tests.deploy.deploy_helpers import REPO_ROOT, write_photo


def _photo_tree(root: Path) -> list[Path]:
    """A folder with a subfolder, three formats, one broken photo and one non-photo file."""
    photos = [
        write_photo(root / "a.jpg", seed=1),
        write_photo(root / "b.png", 40, 30, seed=2),
        write_photo(root / "trip" / "day1" / "c.webp", 50, 70, seed=3),
        write_photo(root / "trip" / "d.png", seed=4),
    ]
    (root / "trip" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    (root / "notes.txt").write_text("not a photo")
    return photos


def _relative(paths: list[Path], root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in paths}


def test_correct_keeps_tree_and_formats_and_reports_the_broken_file(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    photos = _photo_tree(source)

    estimator = tiny_estimator_file(tiny_checkpoint.parent)
    status = main(
        [
            "correct",
            str(source),
            "-o",
            str(out),
            "--checkpoint",
            str(tiny_checkpoint),
            "--estimator",
            str(estimator),
        ]
    )

    assert status == 1
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert _relative(written, out) == _relative(photos, source)
    for photo in photos:
        result = out / photo.relative_to(source)
        with Image.open(photo) as before, Image.open(result) as after:
            assert after.format == before.format
            assert after.size == before.size
    err = capsys.readouterr().err
    assert "broken.jpg" in err
    assert "1 failed" in err
    assert "4 written" in err


def test_simulate_matches_the_spec_and_exits_zero(tmp_path: Path) -> None:
    source = write_photo(tmp_path / "good.png", seed=5)
    out = tmp_path / "out"

    status = main(["simulate", str(source), "-o", str(out), "--tau", "0.7", "--gamma", "0.5"])

    assert status == 0
    expected = overexpose_uint8(np.asarray(Image.open(source).convert("RGB")), 0.7, 0.5)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "good.png")), expected)


def test_bad_arguments_say_what_is_accepted(tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "x.png")
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(photo), "-o", str(tmp_path / "o"), "--tau", "2"])
    assert exc.value.code == 2
    assert main(["simulate", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o")]) == 2
    assert main(["simulate", str(photo), "-o", str(tmp_path)]) == 2  # would overwrite its input


def test_module_runs_as_a_command(tmp_path: Path, tiny_checkpoint: Path) -> None:
    photo = write_photo(tmp_path / "in" / "p.jpg")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "correct", str(photo.parent), "-o", str(tmp_path / "o")],
        cwd=REPO_ROOT,
        env={
            "EXPOSURE_CHECKPOINT": str(tiny_checkpoint),
            "EXPOSURE_ESTIMATOR_CHECKPOINT": str(tiny_estimator_file(tiny_checkpoint.parent)),
            "EXPOSURE_DEVICE": "cpu",
            "PATH": "",
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "p.jpg").is_file()
