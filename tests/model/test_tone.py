"""The tone curve's parametrisation: the camera inverse for an EV, bent by a bounded residual."""

from __future__ import annotations

import numpy as np
import torch

from model import camera_inverse_uint8
from model.tone import base_knots, curve_table, fill_values, knots_from_base

K = 32


def test_an_unbent_curve_is_the_camera_inverse_for_its_ev() -> None:
    codes = np.arange(256, dtype=np.uint8)
    for ev in (0.0, 0.5, 1.0, 2.5):
        knots = knots_from_base(base_knots(torch.tensor([ev]), K), torch.zeros(1, K))
        table = np.round(curve_table(knots[0], 256).numpy() * 255)
        exact = camera_inverse_uint8(codes, ev).astype(np.float64)
        assert np.abs(table - exact).max() <= 1, ev
    identity = knots_from_base(base_knots(torch.zeros(1), K), torch.zeros(1, K))
    assert torch.allclose(identity[0], torch.linspace(0.0, 1.0, K + 1), atol=1e-5)


def test_any_residual_gives_a_monotone_curve_from_0_to_at_most_1() -> None:
    torch.manual_seed(0)
    ev = torch.rand(64) * 4.0
    knots = knots_from_base(base_knots(ev, K), 10.0 * torch.randn(64, K))
    assert torch.all(knots[:, 0] == 0) and torch.all(knots[:, -1] <= 1.0)
    assert torch.all(knots.diff(dim=-1) >= 0)


def test_a_larger_ev_darkens_and_the_residual_moves_the_top_within_its_range() -> None:
    evs = torch.tensor([0.5, 1.0, 1.5])
    tops = knots_from_base(base_knots(evs, K), torch.zeros(3, K))[:, -1]
    assert torch.all(tops.diff() < 0)
    raised = torch.zeros(3, K)
    raised[:, -1] = 5.0
    assert torch.all(knots_from_base(base_knots(evs, K), raised)[:, -1] > tops)


def test_the_curve_is_differentiable_in_the_ev_even_at_zero() -> None:
    ev = torch.tensor([0.0, 1.0], requires_grad=True)
    knots = knots_from_base(base_knots(ev, K), torch.zeros(2, K))
    (grad,) = torch.autograd.grad(knots.sum(), ev)
    assert torch.all(torch.isfinite(grad))
    assert torch.all(grad < 0)  # more stops taken back, a darker curve


def test_the_unet_moves_partially_clipped_fills_only() -> None:
    """Fully clipped pixels keep their surroundings' estimate (channels 0-2), whatever the
    logits; partially clipped ones (3-5) follow the luminance and chroma logits."""
    prior = torch.full((1, 6, 4, 4), 0.5)
    logits = torch.zeros(1, 4, 4, 4)
    logits[:, 0] = 1.0  # brighter
    logits[:, 1] = 2.0  # and redder
    fills = fill_values(prior, logits)
    assert torch.equal(fills[:, :3], prior[:, :3])
    assert bool((fills[:, 3:] > 0.5).all())
    assert bool((fills[:, 3] > fills[:, 4]).all()) and torch.allclose(fills[:, 4], fills[:, 5])


def test_a_bounded_luminance_term_keeps_the_fill_answering() -> None:
    """Bounded, no logit takes a fill past the estimate moved by the range, and the fill still
    moves where the logit does; unbounded, a logit thousands deep pins it to the curve's top."""
    prior = torch.full((1, 6, 1, 3), 0.5)
    logits = torch.zeros(1, 4, 1, 3)
    logits[0, 0] = torch.tensor([-5000.0, -3.0, 5000.0])
    free = fill_values(prior, logits)[0, 3, 0]
    bounded = fill_values(prior, logits, luma_range=4.0)[0, 3, 0]
    assert float(free[0]) == 0.0 and float(free[2]) == 1.0
    lowest, highest = torch.sigmoid(torch.tensor([-4.0, 4.0]))
    assert float(lowest) - 1e-6 <= float(bounded.min()) and float(bounded.max()) <= float(highest)
    assert float(bounded[0]) < float(bounded[1]) < 0.5 < float(bounded[2])
    # Near the estimate the bound changes nothing a trained logit would notice.
    small = torch.zeros(1, 4, 1, 1)
    small[0, 0] = 0.1
    torch.testing.assert_close(
        fill_values(prior[..., :1], small, 4.0),
        fill_values(prior[..., :1], small),
        atol=1e-4,
        rtol=0,
    )
    luma = torch.tensor([-5000.0, 0.0], requires_grad=True)
    logits = torch.zeros(1, 4, 1, 2)
    logits[0, 0, 0] = luma
    (grad,) = torch.autograd.grad(fill_values(prior[..., :2], logits, 4.0)[0, 3].sum(), luma)
    assert float(grad[1]) > 0.2  # the middle of its range answers fully
