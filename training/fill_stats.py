"""Where a fill sits on partially clipped values: shared by the training loop's log and
training.fill_activity's report."""

from __future__ import annotations

import torch

from model.tone import clip_mask

# A fill this close to 0 or 1 has a logit beyond about +-14: the sigmoid passes back a millionth
# of the gradient or less, so training no longer moves it.
PINNED = 1e-6
# A bounded luminance term (model.tone.fill_values: range * tanh(logit / range)) this close to its
# bound passes back 2% of the gradient or less: the tanh's own way of pinning the fill.
AT_BOUND = 0.99


def partial_clip(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For (N, 3, H, W) inputs: where some, not every, channel of a pixel is in the clip mask
    (N, H, W), and which values of those pixels are (N, 3, H, W)."""
    mask = clip_mask(x.float())
    partial = (mask.amax(1) > 0) & (mask.amin(1) < 1)
    return partial, (mask > 0) & partial[:, None]


def pinned_share(x: torch.Tensor, fills: torch.Tensor) -> torch.Tensor:
    """The share of partially clipped values whose per-channel fill (fills[:, 3:], see
    model.tone.compose) is within PINNED of 0 or 1; 0 where there are none. No host sync:
    training logs it every step's batch and reads it only at log intervals."""
    _, where = partial_clip(x)
    fill = fills[:, 3:].detach().float()
    pinned = ((fill < PINNED) | (fill > 1.0 - PINNED)) & where
    return pinned.sum() / where.sum().clamp(min=1)


def at_bound_share(luma: torch.Tensor, luma_range: float | None) -> float | None:
    """The share of the luminance logits `luma` (the U-Net's raw ones, at the pixels of interest)
    whose bounded term lies within 1 - AT_BOUND of its bound; None where the term is unbounded
    (a free logit has no bound to sit at: the pinned share says whether it ran away)."""
    if luma_range is None or luma.numel() == 0:
        return None
    return (torch.tanh(luma.float() / luma_range).abs() >= AT_BOUND).float().mean().item()
