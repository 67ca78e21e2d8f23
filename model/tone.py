"""The correction formula: a monotone tone curve for what the sensor recorded, a fill for what it
clipped. One implementation, used by training (batches of crops) and serving (strips of a photo).

For a value `x` of channel c the output is

    curve(x) + mask(x) * (1 - curve(1)) * fill_c

- `curve` is one monotone, piecewise-linear curve per photo through `knots` (values at
  x = 0, 1/K, ..., 1; knots[0] = 0), shared by R, G and B: the camera inverse for an EV,
  bent by a learned residual (`base_knots`, `knots_from_base`). Overexposure happens in linear light
  before the camera's tone curve, which treats the three channels alike, so its inverse is one
  curve too; a single curve cannot tint a photo. SPEC's `y * tau ** gamma` is such a curve.
- the fill says where in [curve(1), 1] a clipped value lay, so a fill can only brighten a
  clipped value, never push it below the curve's top or past white.
- the fill starts from a physical estimate (model.fill_prior): where only some channels
  clipped, the others and the colour of the unclipped neighbours say what the clipped ones
  were; where every channel clipped, a neutral white as bright as such areas are in real
  photographs, continuing a highlight's roll-off at the area's edge. The U-Net moves the
  estimates of partially clipped pixels in logit space (a luminance term shared by their
  channels, a per-channel term); a pixel whose every channel clipped keeps the estimate.
  Where the sensor recorded nothing of a pixel the U-Net has nothing to go on: a U-Net fill
  there came back darker than the estimate (the flat, grey patch of a clipped window at the
  curve's top), and a clipped white stays neutral by construction, never drifting blue or
  purple.
"""

from __future__ import annotations

import torch

# Where the fill may act: values from MASK_START (nothing) to MASK_END (everything). Clipped
# 8-bit values are exactly 1; the ramp below it lets JPEG-blurred clipped areas be filled too.
MASK_START = 0.96
MASK_END = 0.99
# Largest per-channel deviation of the fill's logit from the shared luminance term.
CHROMA_RANGE = 2.0
FILL_LOGITS = 4  # the U-Net's: one luminance logit, three chroma logits


# sRGB's transfer functions (IEC 61966-2-1), in torch so that the curve's base is
# differentiable in the EV that draws it.
_SRGB_KNEE = 0.04045
_LINEAR_KNEE = 0.0031308
# How far the learned residual may move the curve's top from the base's, in logit units.
TOP_RANGE = 1.5


def _srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    curved = ((x.clamp(min=_SRGB_KNEE) + 0.055) / 1.055) ** 2.4
    return torch.where(x <= _SRGB_KNEE, x / 12.92, curved)


def _linear_to_srgb(v: torch.Tensor) -> torch.Tensor:
    # The clamp keeps the unused branch's gradient finite at 0 (torch.where differentiates both).
    curved = 1.055 * v.clamp(min=_LINEAR_KNEE) ** (1 / 2.4) - 0.055
    return torch.where(v <= _LINEAR_KNEE, v * 12.92, curved)


def base_knots(ev: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) stops -> (N, K + 1) knots of the camera inverse for that EV: sRGB-decode, divide
    by 2**ev, encode again (SPEC section 1b's told-truth inverse). The curve a photo gets is
    this base bent by a learned residual, so an EV, the client's or the estimate, moves the
    whole curve by construction and the network only learns how a camera departs from it."""
    x = torch.linspace(0.0, 1.0, k + 1, device=ev.device, dtype=torch.float32)
    linear = _srgb_to_linear(x)[None] * torch.exp2(-ev.float())[:, None]
    return _linear_to_srgb(linear)


def knots_from_base(base: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """Base knots (N, K + 1) and the residual's (N, K) logits -> (N, K + 1) monotone knots.

    residual[:, -1] moves the top in logit space (at most TOP_RANGE); residual[:, :-1] moves
    the shares of the first K - 1 increments. A zero residual gives the base exactly. The last
    segment, where values may have clipped, keeps the base's slope scaled with the top
    whatever the residual says: brightening clipped values is the fill's job, and a curve that
    steepened there would lift one channel's near-clipped values ahead of the others (a
    coloured ring along every highlight)."""
    base = base.float()
    residual = residual.float()
    steps = base.diff(dim=-1).clamp(min=1e-6)
    base_top = base[:, -1:]
    clamped = base_top.clamp(1e-3, 1.0 - 1e-3)
    moved = torch.sigmoid(torch.logit(clamped) + TOP_RANGE * torch.tanh(residual[:, -1:]))
    # Shifted so that a zero residual keeps the base's top exactly (1 at EV 0: the identity).
    top = (base_top + (moved - clamped)).clamp(max=1.0)
    last = steps[:, -1:] * top / base_top
    shares = torch.softmax(steps[:, :-1].log() + residual[:, :-1], dim=-1)
    free = shares * (top - last)
    return torch.nn.functional.pad(torch.cat([free, last], dim=-1).cumsum(dim=-1), (1, 0))


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


def fill_values(
    prior: torch.Tensor, logits: torch.Tensor, luma_range: float | None = None
) -> torch.Tensor:
    """The fills (N, 6, H, W) in [0, 1]: the physical estimates of model.fill_prior; those of
    partially clipped pixels moved by the U-Net's four logits (luminance, then R, G, B), those
    of fully clipped pixels (the surroundings' estimate) as they are.

    `luma_range` bounds the luminance term as CHROMA_RANGE bounds the colour terms (tanh-scaled);
    None leaves it free, as the generators trained before the bound were."""
    # Plain NCHW: a channel slice of the U-Net's channels_last output is strided, and
    # elementwise functions on it run about five times slower than on a contiguous copy.
    logits = logits.contiguous()
    luma = logits[:, :1]
    if luma_range is not None:
        luma = luma_range * torch.tanh(luma / luma_range)
    chroma = logits[:, 1:]
    per_channel = torch.sigmoid(
        torch.logit(prior[:, 3:]) + luma + CHROMA_RANGE * torch.tanh(chroma)
    )
    return torch.cat([prior[:, :3], per_channel], dim=1)


def compose(
    x: torch.Tensor,
    curved: torch.Tensor,
    top: torch.Tensor,
    fills: torch.Tensor,
    dim: int,
) -> torch.Tensor:
    """The output from the input `x`, its curve values `curved`, the curve's top (broadcast
    against `x`) and the six fills (R, G, B from the surroundings, then R, G, B of partially
    clipped pixels), channels along `dim`; in [0, 1].

    A pixel whose every channel clipped takes the surroundings' fill: a clipped white next to
    neutral surroundings stays neutral by construction, whatever the U-Net says."""
    mask = clip_mask(x)
    colour_known = 1.0 - mask.amin(dim=dim, keepdim=True)
    surround = fills.narrow(dim, 0, 3)
    per_channel = fills.narrow(dim, 3, 3)
    fill = torch.lerp(surround, per_channel, colour_known)
    headroom = (1.0 - top).clamp(min=0.0)
    return torch.addcmul(curved, mask * headroom, fill).clamp(0.0, 1.0)
