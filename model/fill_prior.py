"""Where a clipped value most likely lay, read from the photo itself: the U-Net's starting point.

Where one channel clipped and the others did not, the recorded channels say what the clipped one
was: the pixel has the colour of its unclipped neighbours (their ratios of R, G and B), scaled to
match the channels it still has. That estimate continues a smooth highlight without the rings a
free per-channel fill paints where R clips before G and B. Where every channel clipped nothing
is known of the colour, and the fill there is neutral: spreading the surroundings' hue painted
blotches on real brackets and uploads (a pink cloud beside a sunrise, a cyan patch in a clipped
sky, a white controller the blue of the wall behind it). It is as bright as such areas are in
real photographs (a level by EV, fitted to the bracket train pairs), and continues the
partially clipped pixels at its edge where they come back nearly that bright (a highlight's
roll-off), not where they are much darker (an object's outline against a clipped sky, where a
ramp would draw a grey halo round the object); see `prior_fill`.

The U-Net adds learned corrections to these estimates in logit space (model.tone); a new
generator fills with the estimates alone.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from model.layers import bilinear_source
from model.tone import apply_curve

# Neighbourhood sides, in pixels of the working size (training crops and service canvases alike),
# over which colours are spread into clipped areas, up to the whole picture; each coarser one
# counts a quarter as much, so it only speaks where the finer ones found nothing.
_SPREAD_CELLS = (4, 16, 64, 256, 1 << 16)
_EPS = 1.0 / 255.0
_FILL_RANGE = 0.02  # estimates are kept inside (0.02, 0.98) so that their logits stay finite
# The output value of a fully clipped area, FULL_LEVEL[0] + FULL_LEVEL[1] * EV, at most 1:
# fitted to the targets' mean luminance in the fully clipped regions (400 px or more) of the
# bracket train pairs' inputs (54 pairs; 0.04 from a pair's own on average). The more stops a
# frame was over, the more of its mid-tones clipped with its highlights, so the darker the area.
FULL_LEVEL = (1.042, -0.084)
# Over how many pixels (working size) a fully clipped area goes from its edge's brightness to
# FULL_LEVEL, computed on cells of _CELL pixels; and how much darker than the level an
# edge may come back and still be continued (see prior_fill).
DEPTH_PIXELS = 8
HALO_GAP = (0.12, 0.3)
_CELL = 4  # the side of the cells the surround fill is worked out on
# The spread's weight of partially clipped pixels (model.fill_prior.spread) that counts as
# them being at the edge: a few of them within the finest cells around it.
_NEAR_WEIGHT = 0.05


def spread(
    values: torch.Tensor, weights: torch.Tensor, cells: tuple[int, ...] = _SPREAD_CELLS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised convolution: weighted means of `values` (N, C, H, W) over growing square
    neighbourhoods, with `weights` (N, 1, H, W); returns them and the weight found around each
    pixel (0 where no neighbourhood holds any).

    Each level is the maps average-pooled to cells of its side, bilinearly upsampled back
    (as F.interpolate, align_corners=False), weighted a quarter of the finer one.
    """
    h, w = values.shape[-2:]
    c = values.shape[1]
    # Weighted values and weights in one tensor: one pooling and one upsampling per level.
    stacked = torch.empty(values.shape[0], c + 1, h, w, dtype=values.dtype, device=values.device)
    torch.mul(values, weights, out=stacked[:, :c])
    stacked[:, c:] = weights
    levels: list[torch.Tensor] = []
    previous = 1
    for cell in cells:
        cells = (-(-h // cell), -(-w // cell))
        step = cell // previous
        if levels and _divides(levels[-1].shape[-2:], cells, step):
            # The mean of equal groups of means is the mean: the coarser level from the finer
            # one, without reading the full-size map again.
            levels.append(F.avg_pool2d(levels[-1], step))
        else:
            levels.append(F.adaptive_avg_pool2d(stacked, cells))
        previous = cell
    total = _upsampled_sum(levels, h, w)
    num, den = total[:, :c], total[:, c:]
    return num.div_(den.clamp(min=1e-6)), den


def _upsampled_sum(levels: list[torch.Tensor], h: int, w: int) -> torch.Tensor:
    """Sum over levels of 0.25**level times the level bilinearly upsampled to (h, w).

    Bilinear upsampling is separable and linear, so the coarser levels' sum is two matrix
    products: each level's rows interpolated to h, placed side by side, then one product with
    all their column interpolations, added onto the finest level's upsampling. That writes the
    full-size map twice instead of once per level (measured 3-4x cheaper than five
    F.interpolate calls and their sums at 512 x 512), and keeps F.interpolate's weights, so the
    result is the same to float rounding.
    """
    device = levels[0].device
    with torch.autocast(device.type, enabled=False):  # float32 sums, also under autocast
        # The finest level is upsampled directly: its interpolation matrices would be most
        # of the product's width (128 of 171 columns at 512 px), and F.interpolate reads
        # only two inputs per output (measured 7.6 -> 4.8 ms for four maps at 512 x 512).
        first = F.interpolate(levels[0].float(), (h, w), mode="bilinear", align_corners=False)
        first = first.contiguous()
        coarser = levels[1:]
        if not coarser:
            return first
        rows = [
            _interpolation(h, int(level.shape[-2]), device) @ level.float() * 0.25**index
            for index, level in enumerate(coarser, start=1)
        ]
        columns = torch.cat(
            [_interpolation(w, int(level.shape[-1]), device) for level in coarser], 1
        )
        # One product over every row of every map, added in place: (N C h, K) @ (K, w).
        first.view(-1, w).addmm_(torch.cat(rows, dim=-1).view(-1, columns.shape[1]), columns.T)
        return first


def _interpolation(n_out: int, n_in: int, device: torch.device) -> torch.Tensor:
    """(n_out, n_in): bilinear upsampling along one axis as F.interpolate computes it."""
    return _interpolation_cpu(n_out, n_in).to(device)


@functools.lru_cache(maxsize=64)
def _interpolation_cpu(n_out: int, n_in: int) -> torch.Tensor:
    low, high, frac = bilinear_source(n_out, n_in)
    matrix = torch.zeros(n_out, n_in)
    rows = torch.arange(n_out)
    matrix.index_put_((rows, low), 1.0 - frac, accumulate=True)
    matrix.index_put_((rows, high), frac, accumulate=True)
    return matrix


def _divides(size: torch.Size, cells: tuple[int, int], step: int) -> bool:
    """Whether a map of `size` pools to `cells` in whole `step` x `step` blocks."""
    return all(n == k * step for n, k in zip(size, cells, strict=True))


def prior_fill(
    x: torch.Tensor, knots: torch.Tensor, mask: torch.Tensor, ev: torch.Tensor
) -> torch.Tensor:
    """Estimated fills in [0, 1], (N, 6, H, W): R, G, B for fully clipped pixels, then R, G, B
    for partially clipped ones (from their own recorded channels).
    `x` (N, 3, H, W) in [0, 1], `knots` (N, K + 1) the tone curve (model.tone), `mask` =
    clip_mask(x), `ev` (N,) the stops being taken back."""
    # Plain NCHW: the elementwise work and pooling here run about 40% slower in channels_last.
    x = x.float().contiguous()
    mask = mask.float().contiguous()
    knots = knots.detach().float()
    n, _, h, w = x.shape
    t = knots[:, -1].clamp(max=1.0 - 1e-3)[:, None, None, None]
    headroom = 1.0 - t
    stops = ev.detach().float()[:, None, None, None]
    level = torch.maximum((FULL_LEVEL[0] + FULL_LEVEL[1] * stops).clamp(max=1.0), t)
    fills = torch.empty(n, 6, h, w, dtype=x.dtype, device=x.device)
    if not bool(mask.amax() > 0):
        # Nothing clipped: compose never reads a fill (most canvases; one check instead of
        # the work below).
        fills.copy_(((level - t) / headroom).expand(n, 6, h, w))
        return fills.clamp_(_FILL_RANGE, 1.0 - _FILL_RANGE)
    recorded = 1.0 - mask  # per channel: how surely it did not clip
    all_recorded = recorded.prod(dim=1, keepdim=True)
    log_x = x.clamp(min=_EPS).log()
    chroma = log_x - log_x.mean(dim=1, keepdim=True)  # log-ratios to the pixel's own mean
    local_chroma, _ = spread(chroma, all_recorded)
    # The brightness that best explains the recorded channels, then what the clipped ones were.
    weight = recorded.sum(dim=1, keepdim=True).clamp_(min=1e-3)
    log_scale = log_x.sub_(local_chroma).mul_(recorded).sum(dim=1, keepdim=True).div_(weight)
    estimate = local_chroma.add_(log_scale).exp_()  # as an input value, > 1 where it clipped
    # Beyond 1 the curve is carried on straight from its top (exact for SPEC's simulation).
    per_channel = fills[:, 3:]
    torch.mul(estimate.sub_(1.0), t / headroom, out=per_channel).clamp_(0.0, 1.0)

    # Fully clipped areas: nothing is known of their colour, so they are neutral (spreading the
    # surroundings' hue painted blotches: a white controller turned the blue of the wall behind
    # it, a sky the brown of the roofs below it), as bright as such areas are in real photos
    # (FULL_LEVEL). Where the partially clipped pixels around one come back nearly that bright,
    # its edge is a highlight's roll-off, and the area continues them for DEPTH_PIXELS before it
    # reaches the level; where they are HALO_GAP or more darker, its edge is an object's
    # outline against a clipped sky or wall, and a ramp from it would draw a grey halo round
    # the object, so the area is at the level right up to it.
    fully = mask.amin(dim=1, keepdim=True)
    if not bool(fully.amax() > 0):
        # No pixel with every channel in the mask: compose reads only the per-channel fills.
        fills[:, :3] = (level - t) / headroom
        return fills.clamp_(_FILL_RANGE, 1.0 - _FILL_RANGE)
    # The surround fill is a smooth field (a level, or the brightness of partially clipped
    # pixels nearby, spread), so it is worked out on cells of _CELL x _CELL pixels and carried
    # up bilinearly: at full size its curve, spread and depth cost a fifth of the forward pass.
    partial = (1.0 - all_recorded).mul_(1.0 - fully)
    stacked = torch.cat([x * partial, (mask * per_channel).mul_(partial), partial, fully], 1)
    cells = F.adaptive_avg_pool2d(stacked, (-(-h // _CELL), -(-w // _CELL)))
    weight = cells[:, 6:7]
    # What the partially clipped pixels of each cell come back as, on average: the curve of
    # their mean value, and their fill where clipped.
    mean_x = cells[:, :3] / weight.clamp(min=1e-6)
    curved = apply_curve(mean_x.clamp(0.0, 1.0), knots)
    output = (curved + headroom * cells[:, 3:6] / weight.clamp(min=1e-6)).mean(1, keepdim=True)
    around, found = spread(output, weight, tuple(c // _CELL for c in _SPREAD_CELLS))
    start, end = HALO_GAP
    roll_off = (level - around).sub_(end).div_(start - end).clamp_(0.0, 1.0)
    # Only partially clipped pixels close by speak for an edge (the spread's coarser levels
    # reach far, with a small weight): a far-off highlight says nothing about this edge.
    near = (found / _NEAR_WEIGHT).clamp_(max=1.0)
    keep = (1.0 - _depth(cells[:, 7:8], found)).mul_(roll_off).mul_(near)
    value = around.sub_(level).mul_(keep).add_(level)
    value = F.interpolate(value, (h, w), mode="bilinear", align_corners=False)
    fills[:, :3] = value.sub_(t).div_(headroom)
    return fills.clamp_(_FILL_RANGE, 1.0 - _FILL_RANGE)


def _depth(fully: torch.Tensor, found: torch.Tensor) -> torch.Tensor:
    """Per cell, how far inside a fully clipped area it lies, 0 at its edge to 1 from about
    DEPTH_PIXELS in (1 everywhere where nothing partially clipped was found around);
    `fully` is the share of each cell's pixels with every channel clipped."""
    radius = max(1, DEPTH_PIXELS // _CELL)
    # Beyond the picture counts as neither: a sky clipped up to the top edge is deep there.
    inside = F.avg_pool2d(fully, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)
    ramp = ((inside - 0.5) * 2.0).clamp_(0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep: no kink where the fade starts
    return torch.where(found <= 1e-4, torch.ones_like(ramp), ramp)
