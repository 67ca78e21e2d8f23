"""training.fill_stats: the share of partially clipped values whose fill the sigmoid pinned."""

from __future__ import annotations

import torch

from training.fill_stats import partial_clip, pinned_share


def _photo() -> torch.Tensor:
    # Pixel (0, 0): red clipped alone; (0, 1): every channel clipped; the rest recorded.
    x = torch.full((1, 3, 2, 2), 0.5)
    x[0, 0, 0, 0] = 1.0
    x[0, :, 0, 1] = 1.0
    return x


def test_only_clipped_values_of_partially_clipped_pixels_count() -> None:
    partial, where = partial_clip(_photo())
    assert partial.tolist() == [[[True, False], [False, False]]]
    assert where.sum().item() == 1 and where[0, 0, 0, 0]


def test_pinned_share_counts_fills_at_either_end() -> None:
    x = _photo()
    fills = torch.full((1, 6, 2, 2), 0.5)
    assert pinned_share(x, fills).item() == 0.0
    for pinned_value in (0.0, 1.0):
        fills[0, 3, 0, 0] = pinned_value
        assert pinned_share(x, fills).item() == 1.0
    # A fully clipped pixel's per-channel fill is never read (model.tone.compose): not counted.
    fills[0, 3:, 0, 0] = 0.5
    fills[0, 3:, 0, 1] = 0.0
    assert pinned_share(x, fills).item() == 0.0


def test_no_partially_clipped_value_is_a_share_of_zero() -> None:
    assert pinned_share(torch.full((1, 3, 4, 4), 0.5), torch.zeros(1, 6, 4, 4)).item() == 0.0
