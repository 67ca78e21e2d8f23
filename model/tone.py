"""The correction formula: a monotone tone curve for what the sensor recorded, a fill for what it
clipped. One implementation, used by training (batches of crops) and serving (strips of a photo).

For a value `x` of channel c the output is

    curve(x) + mask(x) * (1 - curve(1)) * fill_c

- `curve` is one monotone, piecewise-linear curve per photo through `knots` (values at
  x = 0, 1/K, ..., 1; knots[0] = 0), shared by R, G and B. Overexposure happens in linear light
  before the camera's tone curve, which treats the three channels alike, so its inverse is one
  curve too; a single curve cannot tint a photo. SPEC's `y * tau ** gamma` is such a curve.
- the fill says where in [curve(1), 1] a clipped value lay, so a fill can only brighten a
  clipped value, never push it below the curve's top or past white.
- the fill is `sigmoid(luma + (1 - all_clipped) * chroma_c)`: a shared luminance term and a
  per-channel term that vanishes where every channel clipped. Where the sensor recorded nothing
  of a pixel's colour the fill is the same for R, G and B, so a clipped white stays neutral by
  construction and can never drift blue or purple; where only some channels clipped, the
  others (which the U-Net sees) say what colour the clipped ones were.
"""

from __future__ import annotations

import torch

# Where the fill may act: values from MASK_START (nothing) to MASK_END (everything). Clipped
# 8-bit values are exactly 1; the ramp below it lets JPEG-blurred clipped areas be filled too.
MASK_START = 0.96
MASK_END = 0.99
# Largest per-channel deviation of the fill's logit from the shared luminance term.
CHROMA_RANGE = 2.0
FILL_CHANNELS = 4  # luminance logit + three chroma logits


def knots_from_logits(shape_logits: torch.Tensor, log_top: torch.Tensor) -> torch.Tensor:
    """(N, K) increments' logits and (N,) log of curve(1) -> (N, K + 1) monotone knots from 0."""
    steps = torch.softmax(shape_logits.float(), dim=-1) * log_top.float().exp()[:, None]
    return torch.nn.functional.pad(steps.cumsum(dim=-1), (1, 0))


def apply_curve(x: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """Evaluates (N, K + 1) curves at x of shape (N, ...), values in [0, 1], piecewise linearly."""
    k = knots.shape[-1] - 1
    flat = x.reshape(x.shape[0], -1).to(knots.dtype)
    pos = flat.clamp(0.0, 1.0) * k
    index = pos.floor().clamp(max=k - 1)
    frac = pos - index
    lo = torch.gather(knots, 1, index.long())
    hi = torch.gather(knots, 1, index.long() + 1)
    return torch.lerp(lo, hi, frac).reshape(x.shape)


def curve_table(knots: torch.Tensor, levels: int) -> torch.Tensor:
    """(K + 1,) knots -> the curve at every code 0..levels-1 of an integer image, in [0, 1]."""
    codes = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    return apply_curve(codes[None], knots[None].double())[0]


def clip_mask(x: torch.Tensor) -> torch.Tensor:
    """Per value: 0 where it certainly did not clip, rising to 1 where it did."""
    return ((x - MASK_START) / (MASK_END - MASK_START)).clamp(0.0, 1.0)


def fill_values(x: torch.Tensor, fill_logits: torch.Tensor, dim: int) -> torch.Tensor:
    """The fill in [0, 1] per channel from 4 logits (luma, 3 chroma) along `dim` of both."""
    luma = fill_logits.narrow(dim, 0, 1)
    chroma = fill_logits.narrow(dim, 1, 3)
    colour_known = 1.0 - clip_mask(x).amin(dim=dim, keepdim=True)
    return torch.sigmoid(luma + colour_known * CHROMA_RANGE * torch.tanh(chroma))


def compose(
    x: torch.Tensor,
    curved: torch.Tensor,
    top: torch.Tensor,
    fill_logits: torch.Tensor,
    dim: int,
) -> torch.Tensor:
    """The output from the input `x`, its curve values `curved` and the curve's top (broadcast
    against `x`), with channels along `dim`; clamped to [0, 1]."""
    headroom = (1.0 - top).clamp(min=0.0)
    fill = fill_values(x, fill_logits, dim)
    return torch.addcmul(curved, clip_mask(x) * headroom, fill).clamp(0.0, 1.0)
