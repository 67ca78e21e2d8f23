"""The physical fill estimate: clipped channels continue from the recorded ones with the colour of
the neighbourhood; fully clipped areas take the brightness of their surroundings' estimate and
no colour."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.fill_prior import prior_fill, spread
from model.tone import clip_mask


def ramp(colour: tuple[float, float, float], gain: float, width: int = 256) -> torch.Tensor:
    """(1, 3, 8, width): a brightening ramp of one colour, times `gain` and clipped at 1."""
    level = torch.linspace(0.2, 1.0, width)
    x = torch.tensor(colour)[:, None] * level[None, :] * gain
    return x.clamp(max=1.0)[None, :, None, :].expand(1, 3, 8, width).contiguous()


def test_a_clipped_channel_continues_with_the_neighbourhoods_colour() -> None:
    gain = 1.4
    x = ramp((1.0, 0.8, 0.6), gain)
    top = torch.tensor([1.0 / gain])  # the straight curve that undoes `gain`
    fills = prior_fill(x, top, clip_mask(x))
    red = fills[0, 3, 4]  # per-channel estimate for R along the ramp
    truth = (torch.linspace(0.2, 1.0, 256) * gain).clamp(min=1.0)  # what R was, as an input
    expected = ((truth - 1.0) * top / (1.0 - top)).clamp(0.02, 0.98)
    partially = (x[0, 0, 4] >= 0.99) & (x[0, 1, 4] < 0.95)  # R clipped, G recorded
    assert int(partially.sum()) > 20
    assert (red[partially] - expected[partially]).abs().max() < 0.03
    # Smooth along the ramp: no jump where R starts to clip.
    assert red.diff().abs().max() < 0.05


def test_a_fully_clipped_area_gets_its_surroundings_brightness_and_no_colour() -> None:
    x = torch.ones(1, 3, 32, 32)
    fills = prior_fill(x, torch.tensor([0.7]), clip_mask(x))
    surround = fills[:, :3]  # what a fully clipped pixel takes
    assert torch.allclose(surround, torch.full_like(surround, 0.5))  # nothing known: mid, grey
    grey = ramp((0.9, 0.9, 0.9), 1.5)
    fills = prior_fill(grey, torch.tensor([0.6]), clip_mask(grey))
    assert torch.equal(fills[:, 0], fills[:, 1]) and torch.equal(fills[:, 1], fills[:, 2])
    # A warm highlight clipped in the middle: the clipped middle is neutral, as bright as the
    # estimates of the partially clipped pixels around it.
    warm = ramp((1.0, 0.85, 0.7), 1.0, width=96)
    warm = torch.cat([warm, warm.flip(-1)], dim=-1) * 1.6
    warm = warm.clamp(max=1.0)
    fills = prior_fill(warm, torch.tensor([0.6]), clip_mask(warm))
    fully = (warm >= 0.99).all(dim=1)[0]
    partially = (warm >= 0.99).any(dim=1)[0] & ~fully
    assert int(fully.sum()) > 8 and int(partially.sum()) > 8
    surround = fills[0, :3][:, fully]
    assert torch.equal(surround[0], surround[1]) and torch.equal(surround[1], surround[2])
    per_channel = fills[0, 3:][:, partially]
    assert per_channel[0].mean() > per_channel[2].mean()  # the partial estimates are warm
    assert surround.mean() > 0.1  # and the clipped middle as bright as they say, not grey-dark


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


def _prior_by_definition(x: torch.Tensor, top: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """prior_fill's arithmetic written plainly, one fresh map per step (prior_fill reorders it
    and works in place)."""
    eps = 1.0 / 255.0
    recorded = 1.0 - mask
    all_recorded = recorded.prod(dim=1, keepdim=True)
    some_recorded = 1.0 - mask.amin(dim=1, keepdim=True)
    log_x = torch.log(x.clamp(min=eps))
    chroma = log_x - log_x.mean(dim=1, keepdim=True)
    local_chroma, _ = _spread_by_definition(chroma, all_recorded)
    weight = recorded.sum(dim=1, keepdim=True).clamp(min=1e-3)
    log_scale = (recorded * (log_x - local_chroma)).sum(dim=1, keepdim=True) / weight
    estimate = torch.exp(log_scale + local_chroma)
    t = top[:, None, None, None].clamp(max=1.0 - 1e-3)
    per_channel = (t * (estimate - 1.0) / (1.0 - t)).clamp(0.0, 1.0)
    partial = some_recorded * (1.0 - all_recorded)
    around, found = _spread_by_definition(per_channel.mean(dim=1, keepdim=True), partial)
    around = torch.where(found > 1e-4, around, torch.full_like(around, 0.5)).expand_as(x)
    return torch.cat([around, per_channel], dim=1).clamp(0.02, 0.98)


@pytest.mark.parametrize("channels_last", [False, True])
def test_prior_fill_matches_its_definition(channels_last: bool) -> None:
    # Bright noisy photos with clipped blobs: every branch (partial, full, nothing found).
    generator = torch.Generator().manual_seed(11)
    x = (torch.rand(2, 3, 96, 160, generator=generator) * 1.6).clamp(max=1.0)
    x[1, :, 40:70, 50:120] = 1.0
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    top = torch.tensor([0.7, 0.85])
    got = prior_fill(x, top, clip_mask(x))
    want = _prior_by_definition(x.contiguous(), top, clip_mask(x.contiguous()))
    assert torch.allclose(got, want, atol=1e-5)
