"""The shipped checkpoint on highlights that clip, told the EV: smooth synthetic ones
(training.highlights) and a real frame's clipped sky."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from model import correct_images
from tests.real_photos import shared_photo, shipped_generator
from training.clipped_regions import region_scores
from training.fill_activity import measure
from training.highlights import SCENES, HighlightScores, degrade, score

# Scenes with an area where every channel clipped, under both overexposures.
FULLY_CLIPPED = ["warm grey", "cool", "sun in a sky", "white wall"]


@cache
def _scores(scene: str, degradation: str) -> HighlightScores:
    truth = SCENES[scene]()
    degraded = degrade(truth, degradation)
    (output,) = correct_images(shipped_generator(), [degraded], evs=[1.0])
    return score(scene, degradation, truth, degraded, output)


@pytest.mark.parametrize("degradation", ["s1", "c"])
@pytest.mark.parametrize("scene", FULLY_CLIPPED)
def test_a_fully_clipped_area_comes_back_bright_not_grey(scene: str, degradation: str) -> None:
    s = _scores(scene, degradation)
    assert s.full_clip_l is not None and s.full_clip_l_truth is not None, s
    # Not a grey patch below the scene's own brightness there, and not glaring past it: these
    # scenes are a little darker where they clip than real photos are (about L* 96), whose
    # brightness the fill takes.
    assert -3.0 <= s.full_clip_l - s.full_clip_l_truth <= 12.0, s


_SUN_STEP = pytest.mark.xfail(
    strict=True,
    reason="where SPEC 1's clipped sun meets the ring around it the shipped checkpoint steps "
    "16 levels beyond the original's (the generator before it: 4): the sky's blue clipped "
    "everywhere comes back at the curve's top, and the disc's fill is brighter "
    "(docs/quality.md, 'The shipped generator')",
)


@pytest.mark.parametrize(
    ("scene", "degradation"),
    [
        pytest.param(scene, degradation, marks=_SUN_STEP)
        if (scene, degradation) == ("sun in a sky", "s1")
        else (scene, degradation)
        for scene in FULLY_CLIPPED
        for degradation in ("s1", "c")
    ],
)
def test_no_step_where_the_fully_clipped_area_meets_the_highlight(
    scene: str, degradation: str
) -> None:
    s = _scores(scene, degradation)
    # The white wall's edge is a step in the scene itself; its white side comes back brighter.
    limit = 35.0 if scene == "white wall" else 12.0
    assert s.step_excess <= limit, s


def test_a_warm_grey_gradient_keeps_its_hue_across_the_clip() -> None:
    s = _scores("warm grey", "s1")
    assert np.isfinite(s.chroma_p99) and s.chroma_p99 <= 8.0, s


def test_a_real_frames_clipped_sky_comes_back_as_bright_as_the_target() -> None:
    # A real bracket val pair (never trained on), 2.01 stops over: told its EV, the regions
    # where every channel clipped come back within 0.05 of the target's mean luminance (they
    # came back 0.24 darker, a grey patch, when the fill continued the area's edge instead).
    frame = shared_photo("brackets/val/input/hdrps_507_MDF0007.png")
    target = shared_photo("brackets/val/target/hdrps_507_MDF0007.png")
    (output,) = correct_images(shipped_generator(), [frame], evs=[2.01])
    regions = region_scores(frame, output, target)
    assert regions is not None and regions.pixels > 10_000
    assert abs(regions.output_luminance - regions.target_luminance) < 0.05, regions


@pytest.mark.parametrize(
    "relative",
    ["real-uploads/corly_overexposure.jpg", "brackets/val/target/hdrps_507_MDF0007.png"],
)
def test_told_ev_0_the_shipped_checkpoint_returns_a_real_photo_unchanged(relative: str) -> None:
    """A photo told EV 0 comes back as it was, clipped whites and all: the tuned curve's
    residual does not bend it."""
    photo = shared_photo(relative)
    (out,) = correct_images(shipped_generator(), [photo], evs=[0.0])
    assert np.array_equal(out, photo)


def test_the_shipped_fill_responds_on_a_real_frame() -> None:
    """A fill pinned to its sigmoid's ends passes back no gradient and answers nothing: the
    generator before the shipped one had every partially clipped value there."""
    frame = shared_photo("brackets/val/input/hdrps_507_MDF0007.png")
    activity, _ = measure(shipped_generator(), frame, 2.01)
    assert activity.values > 1_000
    assert activity.pinned < 0.5, activity
