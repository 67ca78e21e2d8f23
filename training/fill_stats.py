"""Where a fill sits on partially clipped values: shared by the training loop's log and
training.fill_activity's report."""

from __future__ import annotations

import torch

from model.tone import clip_mask

# A fill this close to 0 or 1 has a logit beyond about +-14: the sigmoid passes back a millionth
# of the gradient or less, so training no longer moves it.
PINNED = 1e-6


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
