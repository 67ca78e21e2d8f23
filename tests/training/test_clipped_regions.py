"""Fully clipped regions: found as 8-connected areas, scored against the target."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from training.clipped_regions import EDGE_PX, _components, _grow, fully_clipped, region_scores


def _flood_sizes(mask: np.ndarray) -> list[int]:
    """Component sizes by breadth-first flood fill (8-connected): the definition."""
    seen = np.zeros_like(mask)
    sizes = []
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        queue, size = deque([(y0, x0)]), 0
        while queue:
            y, x = queue.popleft()
            size += 1
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
        sizes.append(size)
    return sorted(sizes)


@pytest.mark.parametrize("density", [0.3, 0.55, 0.7])
def test_components_match_a_flood_fill(density: float) -> None:
    rng = np.random.default_rng(int(density * 100))
    mask = rng.random((60, 80)) < density
    labels, sizes = _components(mask)
    assert sorted(sizes.tolist()) == _flood_sizes(mask)
    assert ((labels > 0) == mask).all()


def test_regions_are_fully_clipped_areas_of_enough_pixels() -> None:
    image = np.full((100, 100, 3), 120, dtype=np.uint8)
    image[10:40, 10:40] = 255  # 900 px: kept
    image[60:70, 60:70] = 255  # 100 px: too small
    image[50:90, 5:30, :2] = 255  # two channels only: not fully clipped
    region = fully_clipped(image)
    assert int(region.sum()) == 900 and region[10:40, 10:40].all()


def test_region_scores_compare_output_and_target_there() -> None:
    source = np.full((64, 64, 3), 100, dtype=np.uint8)
    source[:32] = 255
    target = np.full_like(source, 90)
    target[:32] = 230
    output = target.copy()
    output[:32] = 200
    scores = region_scores(source, output, target)
    assert scores is not None and scores.pixels == 32 * 64
    assert scores.target_luminance == pytest.approx(230 / 255)
    assert scores.output_luminance == pytest.approx(200 / 255)
    assert scores.mae_levels == pytest.approx(30.0)
    assert region_scores(np.full_like(source, 10), output, target) is None


def test_grow_reaches_its_distance_diagonals_included_and_never_wraps() -> None:
    mask = np.zeros((9, 9), dtype=bool)
    mask[4, 4] = True
    grown = _grow(mask, 2)
    assert grown[2:7, 2:7].all() and grown.sum() == 25
    edge = np.zeros((9, 9), dtype=bool)
    edge[0, 0] = True
    assert _grow(edge, 1).sum() == 4  # nothing wraps round to the far rows or columns


def test_edge_step_compares_the_rim_with_what_lies_just_outside() -> None:
    source = np.full((64, 64, 3), 100, dtype=np.uint8)
    source[:32] = 255  # the top half clipped: its edge is row 31 against row 32
    # A target with a hard edge there (a window against a wall) ...
    hard = np.full_like(source, 120)
    hard[:32] = 240
    # ... and an output that ramps across it: its rim darker, its surroundings lighter.
    ramp = hard.copy()
    ramp[32 - EDGE_PX : 32] = 200
    ramp[32 : 32 + EDGE_PX] = 160
    scores = region_scores(source, ramp, hard)
    assert scores is not None
    assert scores.target_step == pytest.approx((240 - 120) / 255)
    assert scores.output_step == pytest.approx((200 - 160) / 255)
    # A region that is the whole picture has no outside to step from.
    whole = region_scores(np.full_like(source, 255), ramp, hard)
    assert whole is not None and np.isnan(whole.target_step)
