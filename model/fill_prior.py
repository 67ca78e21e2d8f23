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
    stacked = torch.empty(values.shape[0], c + 1, h, w, dtype=values.dtype, device=values.device)
    torch.mul(values, weights, out=stacked[:, :c])
    stacked[:, c:] = weights
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


def prior_fill(x: torch.Tensor, top: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Estimated fills in [0, 1], (N, 6, H, W): R, G, B for fully clipped pixels (neutral, as
    bright as their surroundings' estimates), then R, G, B for partially clipped ones (from
    their own recorded channels).
    `x` (N, 3, H, W) in [0, 1], `top` (N,) the curve's value at 1, `mask` = clip_mask(x)."""
    # Plain NCHW: the elementwise work and pooling here run about 40% slower in channels_last.
    # In-place wherever a map is not read again: each fresh full-size map costs its page
    # faults as well as its pass over memory.
    x = x.float().contiguous()
    mask = mask.float().contiguous()
    n, _, h, w = x.shape
    recorded = 1.0 - mask  # per channel: how surely it did not clip
    all_recorded = recorded.prod(dim=1, keepdim=True)
    log_x = x.clamp(min=_EPS).log_()
    chroma = log_x - log_x.mean(dim=1, keepdim=True)  # log-ratios to the pixel's own mean
    local_chroma, _ = spread(chroma, all_recorded)
    # The brightness that best explains the recorded channels, then what the clipped ones were.
    weight = recorded.sum(dim=1, keepdim=True).clamp_(min=1e-3)
    log_scale = (log_x.sub_(local_chroma)).mul_(recorded).sum(dim=1, keepdim=True).div_(weight)
    estimate = local_chroma.add_(log_scale).exp_()  # as an input value, > 1 where it clipped
    # Beyond 1 the curve is carried on straight from its top (exact for SPEC's simulation).
    t = top.detach().float()[:, None, None, None].clamp(max=1.0 - 1e-3)
    fills = torch.empty(n, 6, h, w, dtype=x.dtype, device=x.device)
    per_channel = fills[:, 3:]
    torch.mul(estimate.sub_(1.0), t / (1.0 - t), out=per_channel).clamp_(0.0, 1.0)
    # Fully clipped areas: the estimates of the partially clipped pixels around them.
    partial = all_recorded.neg_().add_(1.0).mul_(1.0 - mask.amin(dim=1, keepdim=True))
    # Brightness only: spreading the channels' mean is one normalised convolution, not three.
    around, found = spread(per_channel.mean(dim=1, keepdim=True), partial)
    fills[:, :3] = around.masked_fill_(found <= 1e-4, 0.5)
    return fills.clamp_(_FILL_RANGE, 1.0 - _FILL_RANGE)
