"""The pix2pix U-Net generator with noise injection and a global exposure estimator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.config import GeneratorConfig
from model.layers import NoiseInjection, maybe_spectral

# The exposure estimator sees the whole photo at this size.
THUMBNAIL = 128
# Its input statistics: a histogram per channel and the clipped share.
_HIST_BINS = 32
_STATS_DIM = 3 * _HIST_BINS + 3
# The predicted global gain is bounded to this range: from 4 stops darker to 1 stop brighter.
_MIN_LOG_GAIN = -4.0 * 0.6931
_MAX_LOG_GAIN = 1.0 * 0.6931
# Where the fill may act: values from MASK_START (nothing) to MASK_END (everything). Clipped
# 8-bit values are exactly 1; the ramp below it lets JPEG-blurred clipped areas be filled too.
MASK_START = 0.96
MASK_END = 0.99


class _DownBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, sn: bool, noise: bool) -> None:
        super().__init__()
        self.conv = maybe_spectral(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), sn)
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


class ExposureEstimator(nn.Module):
    """Estimates a photo's global log-gain from a thumbnail of the whole picture.

    How far a photo was overexposed is a property of the whole picture, so the estimate must
    not depend on which crop the U-Net happens to see: it always looks at the full photo, shrunk
    by `thumbnail`, through a small CNN and the thumbnail's histogram.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in (width, width, 2 * width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(2 * c_in + _STATS_DIM, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1)
        )
        last = self.head[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, thumb: torch.Tensor) -> torch.Tensor:
        """(N, 3, THUMBNAIL, THUMBNAIL) in [0, 1] -> log-gain, shape (N,)."""
        thumb = thumb.float()
        feat = self.features(thumb * 2.0 - 1.0)
        pooled = torch.cat([feat.mean(dim=(2, 3)), feat.amax(dim=(2, 3))], dim=1)
        log_gain: torch.Tensor = self.head(torch.cat([pooled, input_statistics(thumb)], dim=1))
        return log_gain.squeeze(1).clamp(_MIN_LOG_GAIN, _MAX_LOG_GAIN)


class Generator(nn.Module):
    """U-Net from overexposed to corrected RGB, both NCHW in [0, 1], any height and width.

    The output is `input * gain + mask(input) * (1 - gain) * fill`:
    - `gain` is one number per photo from the exposure estimator: the exposure a photo was
      taken with is global, so one number keeps the tone consistent everywhere, and where
      nothing clipped the trivial inverse with the right gain is exact;
    - `fill` in [0, 1] comes from the U-Net and says where in the range a clipped value lay:
      a value that clipped was at least `gain` before the gain and at most 1.
    The mask is zero below MASK_START, so the network can never disturb unclipped pixels.
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        c, sn, noise = config, config.spectral_norm, config.noise
        self.downs = nn.ModuleList()
        c_prev = 3
        for level in range(c.depth):
            self.downs.append(_DownBlock(c_prev, c.channels(level), sn, noise))
            c_prev = c.channels(level)
        self.ups = nn.ModuleList()
        for level in reversed(range(1, c.depth)):
            # The innermost up block sees only the bottleneck; the others also get the skip.
            c_in = c.channels(level) * (1 if level == c.depth - 1 else 2)
            self.ups.append(_UpBlock(c_in, c.channels(level - 1), sn, noise))
        self.to_fill = nn.ConvTranspose2d(c.channels(0) * 2, 3, 4, stride=2, padding=1)
        self.exposure = ExposureEstimator()
        # Start in the middle of the possible range of clipped values.
        nn.init.zeros_(self.to_fill.weight)
        assert self.to_fill.bias is not None
        nn.init.zeros_(self.to_fill.bias)

    @property
    def multiple(self) -> int:
        """Inputs whose sides are multiples of this need no internal padding."""
        return int(2**self.config.depth)

    def forward(self, x: torch.Tensor, thumb: torch.Tensor | None = None) -> torch.Tensor:
        out, _ = self.forward_with_gain(x, thumb)
        return out

    def forward_with_gain(
        self, x: torch.Tensor, thumb: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The corrected image and the log-gain per image, shape (N,).

        `thumb` is the whole photo's thumbnail when `x` is only a crop of it (training);
        by default the thumbnail is made from `x`.
        """
        log_gain, fill = self.predict(x, thumb)
        return compose(x, log_gain, fill), log_gain

    def predict(
        self, x: torch.Tensor, thumb: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The log-gain per image, shape (N,), and the fill map, (N, 3, H, W) in [0, 1]."""
        log_gain = self.exposure(thumbnail(x) if thumb is None else thumb)
        h, w = x.shape[-2:]
        m = self.multiple
        padded = _pad(x, (-h) % m, (-w) % m)
        skips = []
        feat = padded * 2.0 - 1.0
        for down in self.downs:
            feat = down(feat)
            skips.append(feat)
        for i, up in enumerate(self.ups):
            feat = up(feat if i == 0 else torch.cat([feat, skips[-1 - i]], dim=1))
        fill = torch.sigmoid(self.to_fill(torch.cat([feat, skips[0]], dim=1)))
        return log_gain, fill[..., :h, :w]


def clip_mask(x: torch.Tensor) -> torch.Tensor:
    """Per value: 0 where it certainly did not clip, rising to 1 where it did."""
    return ((x - MASK_START) / (MASK_END - MASK_START)).clamp(0.0, 1.0)


def compose(x: torch.Tensor, log_gain: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """`x * gain + mask(x) * (1 - gain) * fill`, clamped to [0, 1]."""
    gain = log_gain.exp().to(x.dtype)[:, None, None, None]
    headroom = (1.0 - gain).clamp(min=0.0)
    return torch.addcmul(x * gain, clip_mask(x) * headroom, fill.to(x.dtype)).clamp(0.0, 1.0)


def thumbnail(x: torch.Tensor) -> torch.Tensor:
    """The exposure estimator's view of a whole photo: area-averaged to THUMBNAIL square."""
    return F.adaptive_avg_pool2d(x.float(), THUMBNAIL)


def input_statistics(x: torch.Tensor) -> torch.Tensor:
    """Per image: a soft histogram of each channel and the share of clipped values.

    How far a photo was overexposed shows in its histogram: how much piles up at 1 and how the
    rest is spread.
    """
    sub = x.float().flatten(2)  # (N, 3, P)
    centres = (torch.arange(_HIST_BINS, device=x.device, dtype=sub.dtype) + 0.5) / _HIST_BINS
    weights = (1.0 - (sub[..., None] - centres).abs() * _HIST_BINS).clamp(min=0.0)
    hist = weights.mean(dim=2).flatten(1)  # (N, 3 * bins)
    clipped = (sub >= 254.5 / 255.0).float().mean(dim=2)  # (N, 3)
    return torch.cat([hist, clipped], dim=1)


def _pad(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Mirror-pads bottom and right; falls back to edge replication for tiny inputs."""
    if pad_h == 0 and pad_w == 0:
        return x
    h, w = x.shape[-2:]
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
