"""The pix2pix U-Net generator with noise injection and a global exposure head."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from model.config import GeneratorConfig
from model.fill_prior import prior_fill
from model.layers import NoiseInjection, maybe_spectral, mirror_pad
from model.tone import (
    FILL_LOGITS,
    apply_curve,
    base_knots,
    clip_mask,
    compose,
    fill_values,
    knots_from_base,
)

# The exposure head sees the whole photo at this size.
THUMBNAIL = 128
# Its input statistics: a histogram per channel and the clipped share.
_HIST_BINS = 32
_STATS_DIM = 3 * _HIST_BINS + 3
# Stops of overexposure the service takes back at most (SPEC: 0 <= ev <= 4).
MAX_EV = 4.0
# The curve's learned residual fades in over the first this many stops: told EV 0 (a good
# photo, and the estimator's usual answer for one) the correction is the identity, not a
# camera's curve bent around a photo that was never overexposed.
RESIDUAL_RAMP = 0.5


@dataclass(frozen=True)
class FillParts:
    """What the fill is made of, before `model.tone.fill_values` combines it: the physical
    estimates and the U-Net's logits (diagnostics read these; the service needs only the fill)."""

    ev: torch.Tensor  # (N,) stops taken back: the client's where given, else the estimate
    ev_estimate: torch.Tensor  # (N,) the head's own estimate, whatever was given
    knots: torch.Tensor  # (N, K + 1) the tone curve, see model.tone
    prior: torch.Tensor  # (N, 6, H, W) model.fill_prior.prior_fill's estimates
    logits: torch.Tensor  # (N, FILL_LOGITS, H, W) the U-Net's: luminance, then R, G, B


@dataclass(frozen=True)
class GeneratorOutput:
    """What the generator says about a batch of canvases."""

    ev: torch.Tensor  # (N,) stops taken back: the client's where given, else the estimate
    ev_estimate: torch.Tensor  # (N,) the head's own estimate, whatever was given
    knots: torch.Tensor  # (N, K + 1) the tone curve, see model.tone
    fills: torch.Tensor  # (N, 4, H, W) in [0, 1]: colourless, R, G, B (model.tone.compose)

    @property
    def top(self) -> torch.Tensor:
        return self.knots[:, -1]


class _DownBlock(nn.Module):
    def __init__(
        self, c_in: int, c_out: int, sn: bool, noise: bool, padding: Literal["zeros", "reflect"]
    ) -> None:
        super().__init__()
        conv = nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, padding_mode=padding)
        self.conv = maybe_spectral(conv, sn)
        self.noise = NoiseInjection(c_out) if noise else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.noise(self.conv(x)), 0.2)


class _UpBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, sn: bool, noise: bool) -> None:
        super().__init__()
        self.conv = maybe_spectral(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), sn)
        self.noise = NoiseInjection(c_out) if noise else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.noise(self.conv(x)))


class ExposureHead(nn.Module):
    """From a thumbnail of the whole photo: how many stops it is overexposed, and the tone curve
    that takes them back.

    How far a photo was overexposed is a property of the whole picture, so the head never
    depends on which crop the U-Net happens to see. The estimate is a bottleneck: the curve is
    the camera inverse for an EV, the client's when it gives one (a slider, its own metadata),
    else the estimate, bent by a residual drawn from the photo's features and that EV (a
    camera's own tone curve is not sRGB's). One head serves both, and a client's EV moves the
    curve by construction. A flag says which it got, so that an uncertain estimate can be
    followed more cautiously than a known EV.
    """

    def __init__(self, knots: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in (width, width, 2 * width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Linear(2 * c_in + _STATS_DIM, 128), nn.LeakyReLU(0.2))
        self.to_ev = nn.Linear(128, 1)
        self.knots = knots
        self.to_curve = nn.Sequential(
            nn.Linear(128 + 2, 128), nn.LeakyReLU(0.2), nn.Linear(128, knots)
        )
        # Start with no residual: the camera inverse for the EV used, identity at EV 0.
        last = self.to_curve[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        nn.init.zeros_(self.to_ev.weight)
        nn.init.constant_(self.to_ev.bias, -5.0)  # about 0.03 EV

    def forward(
        self, thumb: torch.Tensor, ev: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Thumbnails (N, 3, T, T) and the client's EVs (N,), NaN where not given ->
        (EV used, EV estimated, knots (N, K + 1))."""
        thumb = thumb.float()
        feat = self.features(thumb * 2.0 - 1.0)
        pooled = torch.cat([feat.mean(dim=(2, 3)), feat.amax(dim=(2, 3))], dim=1)
        embedding = self.embed(torch.cat([pooled, input_statistics(thumb)], dim=1))
        estimate = MAX_EV * torch.sigmoid(self.to_ev(embedding).squeeze(1))
        if ev is None:
            ev = torch.full_like(estimate, math.nan)
        known = ~torch.isnan(ev.float())
        used = torch.where(known, ev.float().nan_to_num(0.0), estimate)
        condition = torch.stack([used / MAX_EV, known.float()], dim=1)
        residual = self.to_curve(torch.cat([embedding, condition], dim=1))
        residual = residual * (used / RESIDUAL_RAMP).clamp(0.0, 1.0)[:, None]
        return used, estimate, knots_from_base(base_knots(used, self.knots), residual)


class Generator(nn.Module):
    """U-Net from overexposed to corrected RGB, both NCHW in [0, 1], any height and width.

    The output is model.tone's formula: the exposure head's tone curve for every value, plus,
    for clipped values, the U-Net's fill between the curve's top and 1. The fill is masked to
    zero below MASK_START, so the U-Net can never disturb what the sensor recorded.
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        c, sn, noise = config, config.spectral_norm, config.noise
        self.downs = nn.ModuleList()
        c_prev = 3
        for level in range(c.depth):
            self.downs.append(_DownBlock(c_prev, c.channels(level), sn, noise, c.padding))
            c_prev = c.channels(level)
        self.ups = nn.ModuleList()
        for level in reversed(range(1, c.depth)):
            # The innermost up block sees only the bottleneck; the others also get the skip.
            c_in = c.channels(level) * (1 if level == c.depth - 1 else 2)
            self.ups.append(_UpBlock(c_in, c.channels(level - 1), sn, noise))
        self.to_fill = nn.ConvTranspose2d(c.channels(0) * 2, FILL_LOGITS, 4, stride=2, padding=1)
        self.exposure = ExposureHead(c.curve_knots)
        # Start in the middle of the possible range of clipped values, with no colour.
        nn.init.zeros_(self.to_fill.weight)
        assert self.to_fill.bias is not None
        nn.init.zeros_(self.to_fill.bias)

    @property
    def multiple(self) -> int:
        """Inputs whose sides are multiples of this need no internal padding."""
        return int(2**self.config.depth)

    def forward(
        self,
        x: torch.Tensor,
        ev: torch.Tensor | None = None,
        thumb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The corrected image; see `correct`."""
        return self.correct(x, ev, thumb)[0]

    def correct(
        self,
        x: torch.Tensor,
        ev: torch.Tensor | None = None,
        thumb: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, GeneratorOutput]:
        """The corrected image and what it was made from.

        `ev` (N,) holds the client's stops of overexposure, NaN where unknown; `thumb` is the
        whole photo's thumbnail when `x` is only a crop of it (training); by default the
        thumbnail is made from `x`.
        """
        out = self.predict(x, ev, thumb)
        return render(x, out), out

    def predict(
        self,
        x: torch.Tensor,
        ev: torch.Tensor | None = None,
        thumb: torch.Tensor | None = None,
    ) -> GeneratorOutput:
        """The exposure head's EV and curve, and the fill at x's size."""
        return self.output(self.fill_parts(x, ev, thumb))

    def output(self, parts: FillParts) -> GeneratorOutput:
        """The fill's estimates and logits combined (`model.tone.fill_values`, with this
        generator's bound on the luminance term): what `predict` returns."""
        fills = fill_values(parts.prior, parts.logits, self.config.fill_luma_range)
        return GeneratorOutput(parts.ev, parts.ev_estimate, parts.knots, fills)

    def fill_parts(
        self,
        x: torch.Tensor,
        ev: torch.Tensor | None = None,
        thumb: torch.Tensor | None = None,
    ) -> FillParts:
        """The exposure head's EV and curve, the fill's physical estimates and the U-Net's fill
        logits at x's size."""
        used, estimate, knots = self.exposure(thumbnail(x) if thumb is None else thumb, ev)
        h, w = x.shape[-2:]
        m = self.multiple
        padded = mirror_pad(x, h + (-h) % m, w + (-w) % m)
        skips = []
        feat = padded * 2.0 - 1.0
        for down in self.downs:
            feat = down(feat)
            skips.append(feat)
        for i, up in enumerate(self.ups):
            feat = up(feat if i == 0 else torch.cat([feat, skips[-1 - i]], dim=1))
        logits = self.to_fill(torch.cat([feat, skips[0]], dim=1))[..., :h, :w]
        prior = prior_fill(x, knots, clip_mask(x.float()), used)
        return FillParts(used, estimate, knots, prior, logits.float())


def without_spectral_norm(generator: Generator) -> Generator:
    """The same function as a plain generator: each spectrally normalised weight replaced by
    its normalised value (W / sigma, sigma from the stored power-iteration vectors, as in eval
    mode). Spectral normalisation conditions training; served, it would only cost a matrix
    product per convolution and every call, so checkpoints carry the plain weights."""
    if not generator.config.spectral_norm:
        return generator
    was_training = generator.training
    generator.eval()  # reading a normalised weight in training mode runs a power iteration
    state: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, module in generator.named_modules():
            if parametrize.is_parametrized(module, "weight"):
                state[f"{name}.weight"] = module.weight.detach().clone()
        for name, tensor in generator.state_dict().items():
            if ".parametrizations." not in name:
                state[name] = tensor.detach().clone()
    generator.train(was_training)
    plain = Generator(replace(generator.config, spectral_norm=False))
    plain.load_state_dict(state, strict=True)
    return plain.train(was_training)


def render(x: torch.Tensor, out: GeneratorOutput) -> torch.Tensor:
    """The corrected image from the input and what the generator said about it."""
    curved = apply_curve(x, out.knots).to(x.dtype)
    top = out.top.to(x.dtype)[:, None, None, None]
    return compose(x, curved, top, out.fills.to(x.dtype), dim=1)


def thumbnail(x: torch.Tensor) -> torch.Tensor:
    """The exposure head's view of a whole photo: area-averaged to THUMBNAIL square."""
    return F.adaptive_avg_pool2d(x.float(), THUMBNAIL)


def input_statistics(x: torch.Tensor) -> torch.Tensor:
    """Per image: a soft histogram of each channel and the share of clipped values.

    How far a photo was overexposed shows in its histogram: how much piles up at 1 and how the
    rest is spread.
    """
    sub = x.float().flatten(2).clamp(0.0, 1.0)  # (N, 3, P)
    # A triangular kernel one bin wide around each bin's centre: every value splits between
    # its two nearest centres. Scattered in O(P); the outer padding bins take what falls
    # beyond the first and last centres and are dropped.
    pos = sub * _HIST_BINS - 0.5
    lower = pos.floor()
    frac = pos - lower
    index = (lower + 1).long()
    bins = sub.new_zeros(*sub.shape[:2], _HIST_BINS + 2)
    bins.scatter_add_(2, index, 1.0 - frac).scatter_add_(2, index + 1, frac)
    hist = (bins[..., 1:-1] / sub.shape[2]).flatten(1)  # (N, 3 * bins)
    clipped = (sub >= 254.5 / 255.0).float().mean(dim=2)  # (N, 3)
    return torch.cat([hist, clipped], dim=1)
