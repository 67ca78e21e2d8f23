"""The physical fill estimate: clipped channels continue from the recorded ones with the colour of
the neighbourhood; fully clipped areas are neutral, as bright as real clipped areas are, and
continue a highlight's roll-off at their edge but not an object's outline."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.fill_prior import DEPTH_PIXELS, FULL_LEVEL, HALO_GAP, prior_fill, spread
from model.tone import apply_curve, base_knots, clip_mask, compose


def ramp(colour: tuple[float, float, float], gain: float, width: int = 256) -> torch.Tensor:
    """(1, 3, 8, width): a brightening ramp of one colour, times `gain` and clipped at 1."""
    level = torch.linspace(0.2, 1.0, width)
    x = torch.tensor(colour)[:, None] * level[None, :] * gain
    return x.clamp(max=1.0)[None, :, None, :].expand(1, 3, 8, width).contiguous()


def straight(top: float, k: int = 32) -> torch.Tensor:
    """(1, K + 1) knots of the straight curve x -> top * x."""
    return torch.linspace(0.0, top, k + 1)[None]


def test_a_clipped_channel_continues_with_the_neighbourhoods_colour() -> None:
    gain = 1.4
    x = ramp((1.0, 0.8, 0.6), gain)
    top = torch.tensor([1.0 / gain])  # the straight curve that undoes `gain`
    fills = prior_fill(x, straight(1.0 / gain), clip_mask(x), torch.tensor([1.0]))
    red = fills[0, 3, 4]  # per-channel estimate for R along the ramp
    truth = (torch.linspace(0.2, 1.0, 256) * gain).clamp(min=1.0)  # what R was, as an input
    expected = ((truth - 1.0) * top / (1.0 - top)).clamp(0.02, 0.98)
    partially = (x[0, 0, 4] >= 0.99) & (x[0, 1, 4] < 0.95)  # R clipped, G recorded
    assert int(partially.sum()) > 20
    assert (red[partially] - expected[partially]).abs().max() < 0.03
    # Smooth along the ramp: no jump where R starts to clip.
    assert red.diff().abs().max() < 0.05


def _full_output(fills: torch.Tensor, top: float) -> torch.Tensor:
    """(3, H, W): what a fully clipped pixel comes back as, from its fills."""
    return top + (1.0 - top) * fills[0, :3]


def test_nothing_known_is_the_white_of_real_clipped_areas() -> None:
    x = torch.ones(1, 3, 32, 32)
    top, ev = 0.7, 1.2
    fills = prior_fill(x, straight(top), clip_mask(x), torch.tensor([ev]))
    level = min(1.0, FULL_LEVEL[0] + FULL_LEVEL[1] * ev)
    assert 0.9 < level < 1.0
    assert torch.allclose(_full_output(fills, top), torch.full((3, 32, 32), level), atol=1e-5)
    # Never below the curve's top: a clipped value was at least as bright as the clip.
    fills = prior_fill(x, straight(0.95), clip_mask(x), torch.tensor([3.0]))
    assert torch.all(_full_output(fills, 0.95) >= 0.95 - 1e-4)


def _scene(edge_level: float) -> torch.Tensor:
    """(1, 3, 64, 160): a wide fully clipped band in the middle; left of it a warm ramp whose
    top clips channel by channel, right of it a flat object at `edge_level`."""
    x = torch.empty(1, 3, 64, 160)
    ramp = torch.linspace(0.5, 1.0, 48) * 1.25
    x[0, :, :, :48] = (torch.tensor([1.0, 0.92, 0.85])[:, None] * ramp).clamp(max=1.0)[:, None]
    x[0, :, :, 48:120] = 1.0
    x[0, :, :, 120:] = edge_level
    return x


def test_a_fully_clipped_area_is_neutral_and_continues_a_highlights_roll_off() -> None:
    x = _scene(0.3)
    top, ev = 0.75, 1.0
    fills = prior_fill(x, straight(top), clip_mask(x), torch.tensor([ev]))
    out = _full_output(fills, top)[:, 32]
    level = min(1.0, FULL_LEVEL[0] + FULL_LEVEL[1] * ev)
    # Neutral everywhere: nothing is known of the colour.
    assert torch.equal(fills[0, 0], fills[0, 1]) and torch.equal(fills[0, 1], fills[0, 2])
    # Deep inside, the level.
    assert abs(float(out[0, 84]) - level) < 1e-3
    # Beside the roll-off on the left: no step from the partially clipped pixels before it,
    # and a smooth rise to the level.
    clipped = x[0, :, 32] >= 0.99
    assert int((clipped.any(dim=0) & ~clipped.all(dim=0)).sum()) > 2
    knots = straight(top)
    composed = compose(x, apply_curve(x, knots), torch.tensor(top), fills, dim=1)[0, :, 32]
    brightness = composed.mean(dim=0)[30:84]
    assert brightness.diff().abs().max() < 0.04
    # Beside the dark object on the right (an outline, not a roll-off): the level right up to
    # it, no grey halo.
    assert torch.allclose(out[0, 100:120], torch.full((20,), level), atol=0.005)


def test_a_fully_clipped_speck_in_a_near_white_area_stays_with_its_neighbours() -> None:
    # JPEG noise in a white object: most values just under the clip, a few blocks over it. The
    # blocks must not come back as white squares on a light grey object.
    generator = torch.Generator().manual_seed(3)
    x = (0.975 + 0.012 * torch.randn(1, 3, 64, 64, generator=generator)).clamp(max=1.0)
    x[..., 20:24, 20:24] = 1.0
    x[..., 40:44, 30:34] = 1.0
    top, ev = 0.8, 0.8
    knots = straight(top)
    fills = prior_fill(x, knots, clip_mask(x), torch.tensor([ev]))
    out = compose(x, apply_curve(x, knots), torch.tensor(top), fills, dim=1)[0]
    speck = out[:, 21:23, 21:23].mean()
    around = torch.cat([out[:, 14:18, 14:30].flatten(1), out[:, 26:30, 14:30].flatten(1)], 1)
    # A block at the level would be 0.18 brighter than the object around it.
    assert abs(float(speck - around.mean())) < 0.1


def test_spread_reaches_across_the_picture_and_keeps_values_where_known() -> None:
    values = torch.zeros(1, 1, 64, 300)
    values[..., :10] = 2.0
    weights = torch.zeros(1, 1, 64, 300)
    weights[..., :10] = 1.0
    spread_values, found = spread(values, weights)
    assert torch.allclose(spread_values, torch.full_like(spread_values, 2.0))
    assert float(found[..., -1].min()) > 0  # even the far side heard of it


def _spread_by_definition(
    values: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """spread() as its docstring defines it: each level pooled from the full-size maps and
    upsampled on its own."""
    h, w = values.shape[-2:]
    num, den = torch.zeros_like(values), torch.zeros_like(weights)
    for level, cell in enumerate((4, 16, 64, 256, 1 << 16)):
        cells = (-(-h // cell), -(-w // cell))
        for total, pooled in (
            (num, F.adaptive_avg_pool2d(values * weights, cells)),
            (den, F.adaptive_avg_pool2d(weights, cells)),
        ):
            up = F.interpolate(pooled, size=(h, w), mode="bilinear", align_corners=False)
            total += up * 0.25**level
    return num / den.clamp(min=1e-6), den


@pytest.mark.parametrize("size", [(512, 512), (256, 384), (100, 70), (37, 512)])
def test_spread_matches_its_definition_at_every_size(size: tuple[int, int]) -> None:
    # The coarser levels come from the finer ones where the sizes divide evenly, and all
    # levels are pooled and upsampled together: the same numbers to float rounding.
    generator = torch.Generator().manual_seed(3)
    values = torch.rand(2, 3, *size, generator=generator)
    weights = (torch.rand(2, 1, *size, generator=generator) > 0.7).float()
    got, found = spread(values, weights)
    want, want_found = _spread_by_definition(values, weights)
    assert torch.allclose(found, want_found, atol=1e-6)
    assert torch.allclose(got, want, atol=1e-5)


def _depth_by_definition(fully: torch.Tensor, found: torch.Tensor) -> torch.Tensor:
    radius = DEPTH_PIXELS // 4
    kernel = torch.ones(1, 1, 2 * radius + 1, 2 * radius + 1)
    # The mean over the window's cells that lie inside the picture.
    inside = F.conv2d(fully, kernel, padding=radius) / F.conv2d(
        torch.ones_like(fully), kernel, padding=radius
    )
    ramp = ((inside - 0.5) * 2.0).clamp(0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    return torch.where(found <= 1e-4, torch.ones_like(ramp), ramp)


def _prior_by_definition(
    x: torch.Tensor, knots: torch.Tensor, mask: torch.Tensor, ev: torch.Tensor
) -> torch.Tensor:
    """prior_fill's arithmetic written plainly, one fresh map per step."""
    eps = 1.0 / 255.0
    h, w = x.shape[-2:]
    recorded = 1.0 - mask
    all_recorded = recorded.prod(dim=1, keepdim=True)
    fully = mask.amin(dim=1, keepdim=True)
    log_x = torch.log(x.clamp(min=eps))
    chroma = log_x - log_x.mean(dim=1, keepdim=True)
    local_chroma, _ = _spread_by_definition(chroma, all_recorded)
    weight = recorded.sum(dim=1, keepdim=True).clamp(min=1e-3)
    log_scale = (recorded * (log_x - local_chroma)).sum(dim=1, keepdim=True) / weight
    estimate = torch.exp(log_scale + local_chroma)
    t = knots[:, -1].clamp(max=1.0 - 1e-3)[:, None, None, None]
    per_channel = (t * (estimate - 1.0) / (1.0 - t)).clamp(0.0, 1.0)
    # The surround fill, on cells of 4 x 4 pixels.
    partial = (1.0 - fully) * (1.0 - all_recorded)
    cells = (-(-h // 4), -(-w // 4))
    share = F.adaptive_avg_pool2d(partial, cells)
    mean_x = F.adaptive_avg_pool2d(x * partial, cells) / share.clamp(min=1e-6)
    filled = F.adaptive_avg_pool2d(mask * per_channel * partial, cells) / share.clamp(min=1e-6)
    output = (apply_curve(mean_x.clamp(0.0, 1.0), knots) + (1.0 - t) * filled).mean(1, True)
    around, found = spread(output, share, (1, 4, 16, 64, 1 << 14))
    stops = ev[:, None, None, None]
    level = torch.maximum((FULL_LEVEL[0] + FULL_LEVEL[1] * stops).clamp(max=1.0), t)
    start, end = HALO_GAP
    roll_off = ((end - (level - around)) / (end - start)).clamp(0.0, 1.0)
    near = (found / 0.05).clamp(max=1.0)
    depth = _depth_by_definition(F.adaptive_avg_pool2d(fully, cells), found)
    value = level + (around - level) * (1.0 - depth) * roll_off * near
    value = F.interpolate(value, (h, w), mode="bilinear", align_corners=False)
    surround = ((value - t) / (1.0 - t)).expand_as(x)
    return torch.cat([surround, per_channel], dim=1).clamp(0.02, 0.98)


@pytest.mark.parametrize("channels_last", [False, True])
def test_prior_fill_matches_its_definition(channels_last: bool) -> None:
    # Bright noisy photos with clipped blobs: every branch (partial, full, nothing found).
    generator = torch.Generator().manual_seed(11)
    x = (torch.rand(2, 3, 96, 160, generator=generator) * 1.6).clamp(max=1.0)
    x[1, :, 40:70, 50:120] = 1.0
    x[0] = 1.0
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    knots = base_knots(torch.tensor([0.8, 0.3]), 32)
    ev = torch.tensor([0.8, 0.3])
    got = prior_fill(x, knots, clip_mask(x), ev)
    want = _prior_by_definition(x.contiguous(), knots, clip_mask(x.contiguous()), ev)
    assert torch.allclose(got, want, atol=1e-5)
