"""SPEC section 2's scenarios as data, and real pairs read by stem."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model import camera_inverse_uint8, overexpose_uint8
from training import scenarios as sc


def _photo(seed: int, height: int = 40, width: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 250, width)[None, :, None]
    return np.clip(ramp + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scenario", sc.SCENARIOS)
def test_every_scenario_gives_uint8_images_of_the_photo_size(scenario: str) -> None:
    photo = _photo(0)
    case = sc.make_case(scenario, 0, photo, "a.png")
    assert case.baseline is not None
    for image in (case.input, case.truth, case.baseline):
        assert image.dtype == np.uint8 and image.shape == photo.shape
    assert case.truth is photo
    assert case.ev is not None and case.ev >= 0
    # What a client uploads decodes to exactly the input the case scores.
    np.testing.assert_array_equal(sc.decode(case.upload()), case.input)


def test_lossless_scenarios_are_section_1_and_its_inverse() -> None:
    photo = _photo(1)
    case = sc.make_case("s1", 5, photo)
    np.testing.assert_array_equal(case.input, overexpose_uint8(photo, 0.5))
    np.testing.assert_array_equal(case.baseline, sc.inverse_uint8(case.input, 0.5))
    assert case.stored is None and case.upload()[:8] == b"\x89PNG\r\n\x1a\n"
    assert case.ev == pytest.approx(1.0)
    evs = [sc.make_case("s2", i, photo).ev for i in range(4)]
    assert evs == pytest.approx([math.log2(1 / t) for t in (0.35, 0.5, 0.7, 0.35)])


def test_jpeg_scenarios_decode_the_stored_jpeg() -> None:
    photo = _photo(2)
    case = sc.make_case("j2", 2, photo)
    assert case.stored is not None and case.stored[:2] == b"\xff\xd8" and case.suffix == ".jpg"
    buffer = io.BytesIO()
    Image.fromarray(overexpose_uint8(photo, 0.7)).save(buffer, format="JPEG", quality=90)
    assert case.stored == buffer.getvalue()
    np.testing.assert_array_equal(case.baseline, sc.inverse_uint8(case.input, 0.7))


def test_camera_scenario_cycles_its_evs_and_inverts_the_decoded_jpeg() -> None:
    photo = _photo(3)
    cases = [sc.make_case("c", i, photo) for i in range(4)]
    assert [c.ev for c in cases] == [0.5, 1.0, 1.5, 0.5]
    np.testing.assert_array_equal(cases[1].baseline, camera_inverse_uint8(cases[1].input, 1.0))
    assert cases[2].input.mean() > cases[0].input.mean()  # more stops, brighter


def test_no_harm_baseline_is_the_jpeg_itself() -> None:
    photo = _photo(4)
    case = sc.make_case("n", 1, photo)
    assert case.ev == 0.0
    assert case.baseline is case.input
    assert not np.array_equal(case.input, photo)  # JPEG is lossy


def test_unknown_scenario_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="s1, s2, j1, j2, c, n"):
        sc.make_case("r", 0, _photo(0))


def test_scenario_cases_follow_the_sorted_order(tmp_path: Path) -> None:
    for name, seed in (("b.png", 1), ("a.png", 2)):
        Image.fromarray(_photo(seed)).save(tmp_path / name)
    photos = sc.load_photos(tmp_path)
    cases = list(sc.scenario_cases("s2", photos))
    assert [c.name for c in cases] == ["a.png", "b.png"]
    assert [c.ev for c in cases] == pytest.approx([math.log2(1 / 0.35), 1.0])


def test_pairs_are_matched_by_stem(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "target").mkdir()
    Image.fromarray(_photo(5)).save(tmp_path / "input" / "x.png")
    Image.fromarray(_photo(6)).save(tmp_path / "target" / "x.jpg", quality=95)
    Image.fromarray(_photo(7)).save(tmp_path / "input" / "lonely.png")
    csv = tmp_path / "pairs.csv"
    csv.write_text("name,split,ev\nx,val,+1.25\nother,train,\n")
    evs = sc.read_pair_evs(csv)
    assert evs == {"x": 1.25}
    (case,) = sc.pair_cases(tmp_path, evs)
    assert case.name == "x" and case.ev == 1.25 and case.baseline is None
    assert case.stored == (tmp_path / "input" / "x.png").read_bytes()
    assert case.truth.shape == case.input.shape == (40, 48, 3)
    (unknown,) = sc.pair_cases(tmp_path)
    assert unknown.ev is None


def test_pairs_folder_without_pairs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="input"):
        list(sc.pair_cases(tmp_path))
    (tmp_path / "input").mkdir()
    (tmp_path / "target").mkdir()
    with pytest.raises(ValueError, match="matching"):
        list(sc.pair_cases(tmp_path))
