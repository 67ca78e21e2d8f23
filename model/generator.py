"""The pix2pix U-Net generator with noise injection and a global exposure head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.config import GeneratorConfig
from model.layers import NoiseInjection, maybe_spectral

# Input statistics for the exposure head: a histogram per channel and the clipped share.
_HIST_BINS = 16
_STATS_DIM = 3 * _HIST_BINS + 3
# Down-sampling levels whose pooled features also feed the head: the shallow ones, whose
# statistics mean the same on a 128 px training crop and on a 512 px canvas.
_POOLED_LEVELS = 4

# The predicted global gain is bounded to this range: from 4 stops darker to 1 stop brighter.
_MIN_LOG_GAIN = -4.0 * 0.6931
_MAX_LOG_GAIN = 1.0 * 0.6931


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


class Generator(nn.Module):
    """U-Net from overexposed to corrected RGB, both NCHW in [0, 1], any height and width.

    The output is `clamp(input * gain + residual)`: a per-image gain estimated from the whole
    picture (the exposure the photo was taken with is global, so one number keeps the tone
    consistent everywhere) plus a local residual from the U-Net that fills in what clipping lost.
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
        self.to_residual = nn.ConvTranspose2d(c.channels(0) * 2, 3, 4, stride=2, padding=1)
        head_in = _STATS_DIM + sum(c.channels(i) for i in range(min(_POOLED_LEVELS, c.depth)))
        hidden = max(32, c.max_channels)
        self.gain_head = nn.Sequential(
            nn.Linear(head_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )
        # Start as the identity mapping: gain 1, no residual.
        nn.init.zeros_(self.to_residual.weight)
        assert self.to_residual.bias is not None
        nn.init.zeros_(self.to_residual.bias)
        last = self.gain_head[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    @property
    def multiple(self) -> int:
        """Inputs whose sides are multiples of this need no internal padding."""
        return int(2**self.config.depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.forward_with_gain(x)
        return out

    def forward_with_gain(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the corrected image and the predicted log-gain per image, shape (N,)."""
        h, w = x.shape[-2:]
        m = self.multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        padded = _pad(x, pad_h, pad_w)
        skips = []
        feat = padded * 2.0 - 1.0
        for down in self.downs:
            feat = down(feat)
            skips.append(feat)
        pooled = [skip.mean(dim=(2, 3)) for skip in skips[:_POOLED_LEVELS]]
        head_in = torch.cat([input_statistics(padded), *pooled], dim=1)
        log_gain = self.gain_head(head_in.float()).squeeze(1)
        log_gain = log_gain.clamp(_MIN_LOG_GAIN, _MAX_LOG_GAIN)
        for i, up in enumerate(self.ups):
            feat = up(feat if i == 0 else torch.cat([feat, skips[-1 - i]], dim=1))
        residual = torch.tanh(self.to_residual(torch.cat([feat, skips[0]], dim=1)))
        gain = log_gain.exp().to(padded.dtype)[:, None, None, None]
        out = (padded * gain + residual).clamp(0.0, 1.0)
        return out[..., :h, :w], log_gain


def input_statistics(x: torch.Tensor) -> torch.Tensor:
    """Per image: a soft 16-bin histogram of each channel and the share of clipped values.

    How far a photo was overexposed shows in its histogram: how much piles up at 1 and how the
    rest is spread. Every 4th pixel is enough for a histogram and keeps this cheap at 512 px.
    """
    sub = x[..., ::4, ::4].float().flatten(2)  # (N, 3, P)
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
