"""Where a clipped value most likely lay, read from the photo itself: the U-Net's starting point.

Where one channel clipped and the others did not, the recorded channels say what the clipped one
was: the pixel has the colour of its unclipped neighbours (their ratios of R, G and B), scaled to
match the channels it still has. That estimate continues a smooth highlight without the rings a
free per-channel fill paints where R clips before G and B. Where every channel clipped nothing
is known of the colour: the fill there has the brightness of the partially clipped pixels
around the area, spread in, so the highlight stays continuous, and no colour. Spreading their
hue as well painted blotches on real brackets (a pink cloud beside a sunrise, a cyan patch in a
clipped sky, a green-yellow window beside warm walls) where the clipped object is not the
colour of what clipped around it; a neutral highlight is what such an area most often is.

The U-Net adds learned corrections to these estimates in logit space (model.tone); a new
generator fills with the estimates alone.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from model.layers import bilinear_source

# Neighbourhood sides, in pixels of the working size (training crops and service canvases alike),
# over which colours are spread into clipped areas, up to the whole picture; each coarser one
# counts a quarter as much, so it only speaks where the finer ones found nothing.
_SPREAD_CELLS = (4, 16, 64, 256, 1 << 16)
_EPS = 1.0 / 255.0
_FILL_RANGE = 0.02  # estimates are kept inside (0.02, 0.98) so that their logits stay finite


def spread(values: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised convolution: weighted means of `values` (N, C, H, W) over growing square
    neighbourhoods, with `weights` (N, 1, H, W); returns them and the weight found around each
    pixel (0 where no neighbourhood holds any).

    Each level is the maps average-pooled to cells of its side, bilinearly upsampled back
    (as F.interpolate, align_corners=False), weighted a quarter of the finer one.
    """
    h, w = values.shape[-2:]
    c = values.shape[1]
    # Weighted values and weights in one tensor: one pooling and one upsampling per level.
    stacked = torch.cat([values * weights, weights], dim=1)
    levels: list[torch.Tensor] = []
    previous = 1
    for cell in _SPREAD_CELLS:
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
    return num / den.clamp(min=1e-6), den


def _upsampled_sum(levels: list[torch.Tensor], h: int, w: int) -> torch.Tensor:
    """Sum over levels of 0.25**level times the level bilinearly upsampled to (h, w).

    Bilinear upsampling is separable and linear, so the whole sum is two matrix products: each
    level's rows interpolated to h, placed side by side, then one product with all levels'
    column interpolations. That writes the full-size map once instead of once per level
    (measured 3-4x cheaper than five F.interpolate calls and their sums at 512 x 512), and
    keeps F.interpolate's weights, so the result is the same to float rounding.
    """
    device = levels[0].device
    with torch.autocast(device.type, enabled=False):  # float32 sums, also under autocast
        rows = [
            _interpolation(h, int(level.shape[-2]), device) @ level.float() * 0.25**index
            for index, level in enumerate(levels)
        ]
        columns = torch.cat(
            [_interpolation(w, int(level.shape[-1]), device) for level in levels], 1
        )
        return torch.cat(rows, dim=-1) @ columns.T


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


def prior_fill(x: torch.Tensor, top: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Estimated fills in [0, 1], (N, 6, H, W): R, G, B for fully clipped pixels (neutral, as
    bright as their surroundings' estimates), then R, G, B for partially clipped ones (from
    their own recorded channels).
    `x` (N, 3, H, W) in [0, 1], `top` (N,) the curve's value at 1, `mask` = clip_mask(x)."""
    # Plain NCHW: the elementwise work and pooling here run about 40% slower in channels_last.
    x = x.float().contiguous()
    mask = mask.contiguous()
    recorded = 1.0 - mask.float()  # per channel: how surely it did not clip
    all_recorded = recorded.prod(dim=1, keepdim=True)
    some_recorded = 1.0 - mask.float().amin(dim=1, keepdim=True)
    log_x = torch.log(x.clamp(min=_EPS))
    chroma = log_x - log_x.mean(dim=1, keepdim=True)  # log-ratios to the pixel's own mean
    local_chroma, _ = spread(chroma, all_recorded)
    # The brightness that best explains the recorded channels, then what the clipped ones were.
    weight = recorded.sum(dim=1, keepdim=True).clamp(min=1e-3)
    log_scale = (recorded * (log_x - local_chroma)).sum(dim=1, keepdim=True) / weight
    estimate = torch.exp(log_scale + local_chroma)  # as an input value, > 1 where it clipped
    # Beyond 1 the curve is carried on straight from its top (exact for SPEC's simulation).
    t = top.detach().float()[:, None, None, None].clamp(max=1.0 - 1e-3)
    per_channel = (t * (estimate - 1.0) / (1.0 - t)).clamp(0.0, 1.0)
    # Fully clipped areas: the estimates of the partially clipped pixels around them.
    partial = some_recorded * (1.0 - all_recorded)
    # Brightness only: spreading the channels' mean is one normalised convolution, not three.
    around, found = spread(per_channel.mean(dim=1, keepdim=True), partial)
    around = torch.where(found > 1e-4, around, torch.full_like(around, 0.5)).expand_as(x)
    return torch.cat([around, per_channel], dim=1).clamp(_FILL_RANGE, 1.0 - _FILL_RANGE)
