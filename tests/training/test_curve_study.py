"""training.curve_study: fitted curves described against the camera inverse, and the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from training.curve_study import CurveFit, camera_inverse, describe, fit_pairs, main


def _write_pair(root: Path, name: str, table: np.ndarray) -> None:
    """A frame holding every code several times, and its target through `table`."""
    rng = np.random.default_rng(0)
    frame = rng.permutation(np.repeat(np.arange(256, dtype=np.uint8), 3 * 64)).reshape(96, 128, 4)
    frame = frame[..., :3].copy()
    for folder, image in (("input", frame), ("target", table[frame])):
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / folder / f"{name}.png")


def test_the_camera_inverse_describes_itself_as_neutral() -> None:
    ev = 1.5
    row = describe(CurveFit("inverse", ev, camera_inverse(ev), 40.0, 40.0))
    assert abs(row["mid_ev"] - ev) < 0.02
    assert abs(row["contrast"] - 1.0) < 0.02
    assert abs(row["rolloff"] - 1.0) < 0.02
    assert abs(row["top"] - row["top_inverse"]) < 1e-9


def test_a_convex_pair_reads_as_darker_mid_tones_and_a_lifted_top(tmp_path: Path) -> None:
    inverse = np.clip(np.round(camera_inverse(1.0)), 0, 255).astype(np.uint8)
    convex = np.round(255.0 * (np.arange(256) / 255.0) ** 2.0).astype(np.uint8)
    _write_pair(tmp_path, "plain", inverse)
    _write_pair(tmp_path, "convex", convex)
    (tmp_path / "pairs.csv").write_text("name,ev\nplain,1.0\nconvex,1.0\n")
    plot = tmp_path / "curves.png"
    args = ["--pairs", str(tmp_path), "--pairs-csv", str(tmp_path / "pairs.csv")]
    assert main([*args, "--plot", str(plot)]) == 0
    assert Image.open(plot).size[0] > 400
    fits = {f.name: describe(f) for f in fit_pairs(tmp_path, tmp_path / "pairs.csv")}
    assert abs(fits["plain"]["mid_ev"] - 1.0) < 0.05
    assert fits["convex"]["mid_ev"] > 1.5  # darker mid-tones than one stop
    assert fits["convex"]["top"] > fits["convex"]["top_inverse"] + 0.2  # white stays white
    assert fits["plain"]["psnr_curve"] == 60.0  # an exact table is found exactly


def test_a_missing_folder_ends_the_command_with_status_2(tmp_path: Path) -> None:
    assert main(["--pairs", str(tmp_path / "absent")]) == 2
