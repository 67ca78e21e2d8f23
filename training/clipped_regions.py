"""How bright the areas where every channel clipped come back, against the target.

Where a camera clipped every channel it recorded nothing: the correction can only guess, and a
guess parked at the tone curve's top reads as a flat grey patch where the target is near white.
For a real pair, this module finds the input's fully clipped regions (8-connected areas of
pixels with every channel at the top code, at least MIN_REGION pixels) and compares the output
with the target there: mean luminance (Rec. 709 weights on the sRGB values) and the mean
absolute error in 8-bit levels; and how much brighter the regions' rims are than what lies just
outside them, in the target and in the output. A real photograph is not always continuous
there: an area that clips in an overexposed frame is often a window, a lamp or a sky, brighter
than its surroundings by more than the frame could record, so a correction's hard edge is a
defect only where the target has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Smaller areas are specular glints and JPEG noise, not the walls and skies this is about.
MIN_REGION = 400
# How far inside and outside a region's edge its rim and surroundings reach, in pixels: a few
# pixels of the image at its own size, as near the edge as JPEG ringing and a pair's alignment
# (pairs.csv: shifts under a pixel) allow.
EDGE_PX = 3
_REC709 = np.array([0.2126, 0.7152, 0.0722])


@dataclass(frozen=True)
class RegionScores:
    """One image's fully clipped regions, all of them together."""

    pixels: int
    target_luminance: float
    output_luminance: float
    mae_levels: float  # mean absolute error over the regions' values, 8-bit levels
    # Mean luminance of the regions' rims (within EDGE_PX inside) minus that of their
    # surroundings (within EDGE_PX outside); NaN where a region has no outside (all clipped).
    target_step: float
    output_step: float


def fully_clipped(image: np.ndarray, min_region: int = MIN_REGION) -> np.ndarray:
    """(H, W) bool: the pixels of regions of at least `min_region` pixels whose every channel
    is at the dtype's top code."""
    top = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
    mask = np.asarray((image >= top).all(axis=2), dtype=bool)
    labels, sizes = _components(mask)
    keep = np.zeros(len(sizes) + 1, dtype=bool)
    keep[1:] = sizes >= min_region
    kept: np.ndarray = keep[labels]
    return kept


def region_scores(
    source: np.ndarray, output: np.ndarray, target: np.ndarray
) -> RegionScores | None:
    """The output against the target where `source` (the overexposed input) clipped fully;
    None where it has no such region. All three (H, W, 3) uint8."""
    region = fully_clipped(source)
    if not region.any():
        return None
    out, want = output[region].astype(np.float64), target[region].astype(np.float64)
    rim = region & _grow(~region, EDGE_PX)
    around = _grow(region, EDGE_PX) & ~region
    return RegionScores(
        pixels=int(region.sum()),
        target_luminance=float(((want / 255.0) @ _REC709).mean()),
        output_luminance=float(((out / 255.0) @ _REC709).mean()),
        mae_levels=float(np.abs(out - want).mean()),
        target_step=_step(target, rim, around),
        output_step=_step(output, rim, around),
    )


def _step(image: np.ndarray, rim: np.ndarray, around: np.ndarray) -> float:
    if not rim.any() or not around.any():
        return float("nan")
    luminance = (image.astype(np.float64) / 255.0) @ _REC709
    return float(luminance[rim].mean() - luminance[around].mean())


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """`mask` grown by `pixels` in every direction, diagonals included (a square's reach)."""
    grown = mask.copy()
    for axis in (0, 1):
        spread = grown.copy()
        for shift in range(1, pixels + 1):
            # Shifted copies both ways along the axis, nothing wrapping round the edge.
            ahead = [slice(None)] * 2
            behind = [slice(None)] * 2
            ahead[axis], behind[axis] = slice(shift, None), slice(None, -shift)
            spread[tuple(ahead)] |= grown[tuple(behind)]
            spread[tuple(behind)] |= grown[tuple(ahead)]
        grown = spread
    return grown


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components of `mask`: labels (0 outside, 1..n) and each one's size.

    Row by row over runs of set pixels, joined with a union-find: a run joins every run of the
    row above that it touches, diagonals included.
    """
    parent: list[int] = []

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    runs: list[tuple[int, int, int, int]] = []  # (row, start, stop, provisional label)
    above: list[tuple[int, int, int]] = []
    for y, row in enumerate(mask):
        edges = np.diff(np.concatenate(([0], row.view(np.int8), [0])))
        here = []
        j = 0
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        for start, stop in zip(starts, stops, strict=True):
            label = len(parent)
            parent.append(label)
            # Runs above that touch [start - 1, stop + 1): 8-connectivity.
            while j < len(above) and above[j][1] < start:
                j += 1
            k = j
            while k < len(above) and above[k][0] <= stop:
                root, other = find(label), find(above[k][2])
                if root != other:
                    parent[root] = other
                k += 1
            here.append((int(start), int(stop), label))
            runs.append((y, int(start), int(stop), label))
        above = here
    roots = {find(label) for label in range(len(parent))}
    number = {root: i + 1 for i, root in enumerate(sorted(roots))}
    labels = np.zeros(mask.shape, dtype=np.int32)
    for row, first, end, label in runs:
        labels[row, first:end] = number[find(label)]
    sizes = np.bincount(labels.ravel(), minlength=len(roots) + 1)[1:]
    return labels, sizes
