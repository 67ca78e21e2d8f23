"""The evaluation CLI on tiny generated photos and pairs, with an untrained checkpoint."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Annotated

import numpy as np
import pytest
from fastapi import FastAPI, Form, Response, UploadFile
from fastapi.testclient import TestClient
from PIL import Image

from model import Generator, GeneratorConfig, save_generator
from tests.conftest import tiny_estimator_file
from training import contact_sheet
from training import evaluate as ev
from training.scenarios import SCENARIOS, decode, load_photos, make_case, scenario_cases

EV_HEADER = "X-Exposure-EV"


def _image(seed: int, base: float = 60.0) -> np.ndarray:
    # Smooth gradients plus noise: bright enough that every scenario clips part of each photo.
    rng = np.random.default_rng(seed)
    ramp = np.linspace(base, 250, 48)[None, :, None]
    return np.clip(ramp + rng.normal(0, 10, (40, 48, 3)), 0, 255).astype(np.uint8)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.png", "sub/b.png", "c.png"]):
        Image.fromarray(_image(i, 60 + 40 * i)).save(folder / name)
    (folder / "notes.txt").write_text("not a photo")
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    folder = tmp_path / "pairs"
    for part in ("input", "target"):
        (folder / part).mkdir(parents=True)
    for i, name in enumerate(["p", "q"]):
        target = _image(10 + i, 30)
        Image.fromarray(target).save(folder / "target" / f"{name}.png")
        Image.fromarray(make_case("c", 1, target).input).save(folder / "input" / f"{name}.jpg")
    (folder / "pairs.csv").write_text("name,ev\np,1.0\nq,1.5\n")
    return folder


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "g.safetensors"
    config = GeneratorConfig(base_channels=2, max_channels=4, depth=2, working_size=32)
    save_generator(path, Generator(config))
    return path


def test_every_table_is_printed_with_every_row(
    photos: Path, pairs: Path, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["--data", str(photos), "--pairs", str(pairs), "--pairs-csv", str(pairs / "pairs.csv")]
    argv += ["--checkpoint", str(tiny), "--with-ev", "--out", str(out), "--samples", "1"]
    argv += ["--estimator", str(tiny_estimator_file(tmp_path))]
    assert ev.main(argv) == 0
    printed = capsys.readouterr().out
    for scenario in SCENARIOS:
        assert f"scenario {scenario.upper()}: {photos}, 3 photos" in printed
    assert f"real pairs: {pairs}" in printed
    for label in ev.LABELS.values():
        assert f"| {label} |" in printed
    assert "ΔE00" in printed
    report = json.loads((out / "results.json").read_text())
    assert list(report) == [*SCENARIOS, "pairs"]
    assert list(report["j1"]) == ["identity", "inverse", "blind", "told_ev"]
    assert list(report["pairs"]) == [
        "identity",
        "gain_oracle",
        "curve_oracle",
        "shared_curve_oracle",
        "blind",
        "told_ev",
    ]
    # The oracles know the target: never below doing nothing.
    pair_psnr = {row: scores["psnr"] for row, scores in report["pairs"].items()}
    assert pair_psnr["curve_oracle"] >= pair_psnr["gain_oracle"] >= pair_psnr["identity"]
    # N's baseline is the JPEG itself.
    assert report["n"]["inverse"] == report["n"]["identity"]
    # One side-by-side per set (--samples 1): input | each row's output | truth.
    sides = {p.relative_to(out).as_posix() for p in out.glob("*/*.png")}
    assert sides == {*(f"{s}/a.png" for s in SCENARIOS), "pairs/p.png"}
    with Image.open(out / "c" / "a.png") as side, Image.open(out / "pairs" / "p.png") as pair:
        assert side.size == (5 * 48, 40)
        assert pair.size == (7 * 48, 40)


def test_reference_rows_alone_and_one_scenario(
    photos: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert ev.main(["--data", str(photos), "--scenario", "s2", "--upscale", "2"]) == 0
    printed = capsys.readouterr().out
    assert "skipping unreadable photo" in caplog.text and "broken.png" in caplog.text
    assert "scenario S2" in printed and "scenario S1" not in printed
    assert "| told-truth inverse |" in printed and "checkpoint" not in printed


def test_pairs_without_evs_get_no_told_row(pairs: Path) -> None:
    parser = argparse.ArgumentParser()
    ev.add_case_arguments(parser)
    args = parser.parse_args(["--pairs", str(pairs), "--with-ev", "--limit", "1"])
    (key, _, cases, told), *rest = ev.case_sets(args)
    assert key == "pairs" and not told and not rest
    assert [c.name for c in cases] == ["p"]


def test_scores_agree_with_the_scenarios(photos: Path) -> None:
    results = ev.score_cases(scenario_cases("s1", load_photos(photos)))
    assert results["inverse"].psnr > results["identity"].psnr + 3


def test_bad_folders_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ev.main(["--data", str(tmp_path)]) == 2
    assert "no readable photos" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ev.main(["--scenario", "s1"])
    assert "--data" in capsys.readouterr().err


def _http_eval() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "http_eval.py"
    spec = importlib.util.spec_from_file_location("http_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_service(uploads: list[bytes]) -> FastAPI:
    """`POST /correct` that darkens by 0.8 and reports the ev it was told (else 0.75)."""
    app = FastAPI()

    @app.post("/correct")
    async def correct(image: UploadFile, ev: Annotated[float | None, Form()] = None) -> Response:
        uploads.append(await image.read())
        darker = (decode(uploads[-1]) * 0.8).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(darker).save(buffer, format="PNG")
        reported = f"{0.75 if ev is None else ev:.2f}"
        return Response(buffer.getvalue(), media_type="image/png", headers={EV_HEADER: reported})

    return app


def test_http_eval_sends_the_stored_bytes_and_reports_the_service_evs(
    photos: Path, pairs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    http_eval = _http_eval()
    uploads: list[bytes] = []
    parser = argparse.ArgumentParser()
    ev.add_case_arguments(parser)
    args = parser.parse_args(
        ["--data", str(photos), "--scenario", "j1", "--pairs", str(pairs), "--with-ev"]
    )
    with TestClient(_fake_service(uploads)) as client:
        correct = http_eval.HttpCorrector(client)
        report = ev.run(args, correct, correct.ev_summary)
    printed = capsys.readouterr().out
    assert list(report) == ["j1", "pairs"]
    assert list(report["j1"]) == ["identity", "inverse", "blind", "told_ev"]
    assert "told_ev" not in report["pairs"]  # no --pairs-csv
    # J1 uploads are the JPEG bytes themselves, twice each (blind, told); pairs their files.
    jpegs = [c.stored for c in scenario_cases("j1", load_photos(photos))]
    stored = [(pairs / "input" / f"{n}.jpg").read_bytes() for n in ("p", "q")]
    assert uploads == [b for j in jpegs for b in (j, j)] + stored
    assert f"{EV_HEADER} (j1, blind): mean 0.75, min 0.75, max 0.75, n 3" in printed
    assert f"{EV_HEADER} (j1, told_ev): mean 1.00" in printed
    assert "minus the true ev: mean -0.25, mean abs 0.25" in printed
    assert f"{EV_HEADER} (pairs, blind): mean 0.75" in printed


def test_contact_sheet_has_one_row_per_image(
    photos: Path, pairs: Path, tiny: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sheet.png"
    argv = ["--checkpoint", str(tiny), "--pairs", str(pairs), "--photos", str(photos)]
    argv += ["--estimator", str(tiny_estimator_file(tmp_path))]
    assert contact_sheet.main([*argv, "--scenario", "n", "--out", str(out), "--height", "20"]) == 0
    gap = contact_sheet.GAP
    with Image.open(out) as sheet:
        # 2 pairs and 3 photos, each row three 24x20 panels (40x48 resized to 20 rows).
        assert sheet.size == (3 * 24 + 2 * gap, 5 * 20 + 4 * gap)
    assert contact_sheet.main([*argv, "--out", str(out), "--width", "40"]) == 0
    with Image.open(out) as sheet:
        assert sheet.width == 40


def test_contact_sheet_told_and_with_uploads_that_have_no_target(
    photos: Path, pairs: Path, tiny: Path, tmp_path: Path
) -> None:
    """Told rows use each pair's EV (a 0 EV estimator would leave the input as it is); uploads
    get two panels, input and output."""
    out = tmp_path / "sheet.png"
    argv = ["--checkpoint", str(tiny), "--pairs", str(pairs), "--uploads", str(photos)]
    argv += ["--estimator", str(tiny_estimator_file(tmp_path, ev=0.0)), "--height", "20"]
    with pytest.raises(SystemExit):  # --told needs the pairs' EVs
        contact_sheet.main([*argv, "--told", "--out", str(out)])
    told = [*argv, "--told", "--pairs-csv", str(pairs / "pairs.csv"), "--out", str(out)]
    assert contact_sheet.main(told) == 0
    gap = contact_sheet.GAP
    with Image.open(out) as sheet:
        # 2 pair rows of three 24x20 panels, 3 upload rows of two.
        assert sheet.size == (3 * 24 + 2 * gap, 5 * 20 + 4 * gap)
        told_output = np.asarray(sheet.convert("RGB"))[:20, 24 + gap : 48 + gap]
    blind = tmp_path / "blind.png"
    assert contact_sheet.main([*argv, "--out", str(blind)]) == 0
    with Image.open(blind) as sheet:
        blind_output = np.asarray(sheet.convert("RGB"))[:20, 24 + gap : 48 + gap]
        upload_row = np.asarray(sheet.convert("RGB"))[2 * (20 + gap) : 2 * (20 + gap) + 20]
    assert np.abs(told_output.astype(int) - blind_output.astype(int)).mean() > 2
    assert (upload_row[:, 2 * 24 + gap + 1 :] == contact_sheet.BACKGROUND).all()


def test_fully_clipped_regions_get_their_own_table(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "clipped"
    for part in ("input", "target"):
        (folder / part).mkdir(parents=True)
    target = np.full((64, 64, 3), 120, dtype=np.uint8)
    target[8:40, 8:40] = 220
    exposed = np.full_like(target, 200)
    exposed[8:40, 8:40] = 255  # 1,024 px with every channel clipped
    Image.fromarray(target).save(folder / "target" / "w.png")
    Image.fromarray(exposed).save(folder / "input" / "w.png")
    (folder / "pairs.csv").write_text("name,ev\nw,1.0\n")
    argv = ["--pairs", str(folder), "--pairs-csv", str(folder / "pairs.csv")]
    assert ev.main([*argv, "--checkpoint", str(tiny), "--with-ev"]) == 0
    printed = capsys.readouterr().out
    assert "Where every channel clipped (regions of at least 400 px):" in printed
    # Identity returns 255 where the target is 220: 35 levels, luminance 1.0 against 0.863.
    assert "| identity (input returned) | 1 | 0.863 | 1.000 | +0.137 | 0.137 | 35.0 |" in printed
    assert "| checkpoint, told ev | 1 |" in printed
    # The target steps from 120 to 220 at the region's edge; identity from 200 to 255.
    assert "| identity (input returned) | 1 | +0.392 | +0.216 | -0.176 |" in printed
    # Every row's error by clip band: the 1,024 clipped pixels of 4,096 are every channel
    # clipped, the rest below the mask.
    assert "shares of the pixels: 75.0%, 0.0%, 0.0%, 25.0%" in printed
    # Identity: 80 levels off on the three quarters below the mask, 35 on the clipped quarter.
    assert "| identity (input returned) | 4800.0 | 0.0 | 0.0 | 306.2 | 5106.2 |" in printed
