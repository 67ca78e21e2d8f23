"""What overexposure does to a photo that a bright scene does not: the exposure estimator's input.

One function, `exposure_features`, computed on the photo as the generator sees it (the valid part
of its canvas, model.pipeline.prepare) and area-averaged so its longer side is at most
FEATURE_SIDE pixels. Training and serving both call it, so they can never drift apart.

The groups, in order (FEATURE_GROUPS names their slices):

- **tone**: a coarse luma histogram, the top of the brightest channel's histogram in finer
  bins, luma and max-channel quantiles, the linear-light mean and 99th percentile. Bins are
  several codes wide and the photo is area-averaged first, so the missing codes a gain leaves
  in a lossless 8-bit file (a trace of the simulation, never of a real photo) do not show.
- **clipping**: how much clipped, per channel and in all channels at once, at three levels
  (JPEG spreads a clipped area over 240-255); how often one channel clipped while the others
  did not (a camera clips each channel in linear light, so colours run into white channel by
  channel).
- **shape**: how much of the clipped area is interior (large flat plateaus, not specular
  points) and how sharp the edge around it is.
- **gradients**: mean luma gradient in brightness bands, against the photo's own mean
  gradient: overexposure stretches the mid-tones and flattens what is close to clipping.
- **saturation**: mean saturation in bands of the brightest channel: highlights lose colour
  as channels run into 1.
- **layout**: a 3x3 grid of mean colour and of clipped share: where bright areas sit (a sky
  at the top is common in good photos; a clipped face in the middle is not).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

# The longer side at which features are computed, at most (canvases are at most 512 px): the
# photo is averaged over whole blocks of pixels, so a 512 px canvas is seen at 256.
FEATURE_SIDE = 256
# Bumped whenever a feature changes: an estimator trained on other features is refused.
FEATURE_VERSION = "exposure-features/1"

# Values are read at LEVELS steps; every edge below is a whole number of steps.
LEVELS = 400
_LUMA = (0.299, 0.587, 0.114)
_Y_HIST_STEP = 20  # 20 bins of 0.05
_TOP_EDGES = (320, 340, 360, 372, 380, 388, 394, 400)  # 0.8 ... 0.985, 1
_Y_QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.995)
_MAX_QUANTILES = (0.5, 0.9, 0.98, 0.995)
_CLIP_LEVELS = (376, 390, 396)  # 0.94, 0.975, 0.99: JPEG spreads a clipped area over 240-255
_BANDS = (0, 80, 160, 240, 320, 360, 388, 400)  # 0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.97, 1
_GRID = 3
_EPS = 1e-4


def _band_table() -> torch.Tensor:
    table = torch.zeros(LEVELS, dtype=torch.long)
    for i, (lo, hi) in enumerate(itertools.pairwise(_BANDS)):
        table[lo:hi] = i
    return table


_BAND_OF_LEVEL = _band_table()
_N_BANDS = len(_BANDS) - 1
_LEVEL_CENTRES = (torch.arange(LEVELS, dtype=torch.float64) + 0.5) / LEVELS
_LINEAR_OF_LEVEL = torch.where(
    _LEVEL_CENTRES <= 0.04045,
    _LEVEL_CENTRES / 12.92,
    ((_LEVEL_CENTRES + 0.055) / 1.055) ** 2.4,
).float()
_Y_QUANTILES_T = torch.tensor(_Y_QUANTILES, dtype=torch.float64)
_MAX_QUANTILES_T = torch.tensor(_MAX_QUANTILES, dtype=torch.float64)
_Y_HIST_EDGES = torch.arange(0, LEVELS + 1, _Y_HIST_STEP)
_TOP_EDGES_T = torch.tensor(_TOP_EDGES)

_TONE = LEVELS // _Y_HIST_STEP + len(_TOP_EDGES) - 1 + len(_Y_QUANTILES) + len(_MAX_QUANTILES) + 2
_CLIPPING = 3 + 2 * len(_CLIP_LEVELS) + 2
_SHAPE = 3
_GRADIENTS = _N_BANDS + 1
_SATURATION = _N_BANDS + 1
_LAYOUT = 4 * _GRID * _GRID


def _groups() -> dict[str, slice]:
    groups, start = {}, 0
    for name, size in (
        ("tone", _TONE),
        ("clipping", _CLIPPING),
        ("shape", _SHAPE),
        ("gradients", _GRADIENTS),
        ("saturation", _SATURATION),
        ("layout", _LAYOUT),
    ):
        groups[name] = slice(start, start + size)
        start += size
    return groups


FEATURE_GROUPS = _groups()
FEATURE_COUNT = sum(s.stop - s.start for s in FEATURE_GROUPS.values())


def feature_view(photo: torch.Tensor) -> torch.Tensor:
    """(3, h, w) values in [0, 1] -> averaged over k x k blocks, the smallest whole k that
    brings the longer side to FEATURE_SIDE or less (a ragged last row or column is dropped)."""
    h, w = int(photo.shape[-2]), int(photo.shape[-1])
    k = -(-max(h, w) // FEATURE_SIDE)
    if k == 1 or min(h, w) < k:
        return photo.float()
    rows, cols = (h // k) * k, (w // k) * k
    # Strided sums, not avg_pool2d: on a canvas's (non-contiguous) top-left corner they are
    # several times faster, with the same block means.
    summed = sum(photo[:, i:rows:k, :cols].float() for i in range(k))
    assert isinstance(summed, torch.Tensor)
    block = sum(summed[:, :, j:cols:k] for j in range(k))
    assert isinstance(block, torch.Tensor)
    return block * (1.0 / (k * k))


def _levels(values: torch.Tensor) -> torch.Tensor:
    return (values * LEVELS).long().clamp_(0, LEVELS - 1).flatten()


def _histogram(levels: torch.Tensor) -> torch.Tensor:
    return torch.bincount(levels, minlength=LEVELS).double() / max(1, levels.numel())


def _quantiles(hist: torch.Tensor, qs: torch.Tensor) -> torch.Tensor:
    index = torch.searchsorted(torch.cumsum(hist, 0), qs)
    return (index.clamp(max=LEVELS - 1).float() + 0.5) / LEVELS


def _band_means(values: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over the pixels of each band (0 where a band has none)."""
    sums = torch.bincount(bands, weights=values.flatten(), minlength=_N_BANDS)
    counts = torch.bincount(bands, minlength=_N_BANDS)
    return (sums / counts.clamp(min=1)).float()


def _coarse(hist: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    cumulative = torch.cat([hist.new_zeros(1), torch.cumsum(hist, 0)])
    return (cumulative[edges[1:]] - cumulative[edges[:-1]]).float()


def exposure_features(photo: torch.Tensor) -> torch.Tensor:
    """(3, h, w) values in [0, 1] (the valid part of a canvas) -> (FEATURE_COUNT,) float32."""
    x = feature_view(photo).clamp(0.0, 1.0)
    y = _LUMA[0] * x[0] + _LUMA[1] * x[1] + _LUMA[2] * x[2]
    top = x.amax(dim=0)
    low = x.amin(dim=0)
    n = float(y.numel())
    y_levels, top_levels = _levels(y), _levels(top)
    y_hist, top_hist = _histogram(y_levels), _histogram(top_levels)

    # tone
    lin_mean = (y_hist.float() * _LINEAR_OF_LEVEL).sum()
    y_q = _quantiles(y_hist, _Y_QUANTILES_T)
    lin_q99 = _LINEAR_OF_LEVEL[(y_q[-2] * LEVELS).long().clamp(max=LEVELS - 1)]
    tone = torch.cat(
        [
            _coarse(y_hist, _Y_HIST_EDGES),
            _coarse(top_hist, _TOP_EDGES_T),
            y_q,
            _quantiles(top_hist, _MAX_QUANTILES_T),
            torch.log2(torch.stack([lin_mean, lin_q99]) + _EPS) / 4.0,
        ]
    )

    # clipping
    level = _CLIP_LEVELS[1] / LEVELS
    channel_clipped = x >= level
    per_channel = channel_clipped.float().mean(dim=(1, 2))
    low_hist = _histogram(_levels(low))
    top_cdf, low_cdf = torch.cumsum(top_hist, 0), torch.cumsum(low_hist, 0)
    any_all = []
    for lv in _CLIP_LEVELS:
        any_all += [1.0 - top_cdf[lv - 1], 1.0 - low_cdf[lv - 1]]
    clipped_any = top >= level
    clipped_all = low >= level
    count_any = clipped_any.sum().clamp(min=1).float()
    one_channel = (channel_clipped.sum(dim=0) == 1).sum() / count_any
    partial_low = (low * (clipped_any & ~clipped_all)).sum() / count_any
    clipping = torch.cat(
        [per_channel, torch.stack(any_all).float(), torch.stack([one_channel, partial_low])]
    )

    # shape: interior of the clipped area (it and its four neighbours clipped), and the edge
    # just outside it
    m = clipped_any
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    near = m[1:-1, 1:-1] | m[:-2, 1:-1] | m[2:, 1:-1] | m[1:-1, :-2] | m[1:-1, 2:]
    ring = near & ~m[1:-1, 1:-1]
    gx = (y[1:-1, 2:] - y[1:-1, :-2]).abs()
    gy = (y[2:, 1:-1] - y[:-2, 1:-1]).abs()
    grad = gx + gy
    mean_grad = grad.mean() if grad.numel() else y.new_zeros(())
    ring_count = ring.sum().float()
    ring_grad = (grad * ring).sum() / ring_count.clamp(min=1.0)
    shape = torch.stack(
        [
            inner.sum() / m[1:-1, 1:-1].sum().clamp(min=1).float(),
            torch.log((ring_grad + _EPS) / (mean_grad + _EPS)) * (ring_count > 0).float(),
            ring_count / n,
        ]
    )

    # gradients by luma band, against the photo's own mean gradient
    inner_bands = _BAND_OF_LEVEL[_levels(y[1:-1, 1:-1])]
    band_grad = _band_means(grad, inner_bands)
    gradients = torch.cat(
        [
            torch.log((band_grad + _EPS) / (mean_grad + _EPS)) * (band_grad > 0).float(),
            torch.log(mean_grad + _EPS)[None] / 4.0,
        ]
    )

    # saturation by band of the brightest channel
    sat = (top - low) / top.clamp(min=_EPS)
    saturation = torch.cat([_band_means(sat, _BAND_OF_LEVEL[top_levels]), sat.mean()[None]])

    # layout: a coarse grid of mean colour and of clipped share
    planes = torch.cat([x, m.float()[None]], dim=0)[None]
    layout = F.adaptive_avg_pool2d(planes, _GRID)[0].flatten()

    return torch.cat([tone, clipping, shape, gradients, saturation, layout]).float()


def canvas_features(tensor: torch.Tensor, low_height: int, low_width: int) -> torch.Tensor:
    """Features of the photo inside a generator canvas (3, S, S): its top-left low_h x low_w."""
    return exposure_features(tensor[:, :low_height, :low_width])
