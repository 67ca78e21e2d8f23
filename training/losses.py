"""The poster's losses: least-squares adversarial, L1 content, and VGG-19 perceptual.

The perceptual loss needs VGG-19 weights from a local file (nothing is ever downloaded). Without
them a weight-free multi-scale SSIM loss takes its place: like the perceptual loss it penalises
lost structure and contrast that a per-pixel L1 averages away, and it is what SPEC's contrast and
structure metrics measure.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


def lsgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss (Mao et al. 2017): real -> 1, fake -> 0."""
    return 0.5 * ((real_scores - 1.0).pow(2).mean() + fake_scores.pow(2).mean())


def lsgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss: make the discriminator score fakes as 1."""
    return 0.5 * (fake_scores - 1.0).pow(2).mean()


# torchvision's vgg19().features: numbers are conv widths, "M" a max-pool.
_VGG19_LAYOUT: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
_VGG19_LAYOUT += [512, 512, 512, 512, "M", 512, 512, 512, 512]
# Indices in that Sequential of relu1_2, relu2_2, relu3_4, relu4_4, relu5_4.
VGG19_LAYERS = (3, 8, 17, 26, 35)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_features() -> nn.Sequential:
    """VGG-19's convolutional part with torchvision's module indices (so its keys load)."""
    layers: list[nn.Module] = []
    c_in = 3
    for item in _VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            assert isinstance(item, int)
            layers += [nn.Conv2d(c_in, item, 3, padding=1), nn.ReLU(inplace=False)]
            c_in = item
    return nn.Sequential(*layers)


def load_vgg19_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Reads VGG-19 feature weights from a torchvision-layout .pth or .safetensors file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        # weights_only: a state dict of tensors, never arbitrary pickled objects.
        state = torch.load(path, map_location="cpu", weights_only=True)
    features = {
        k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")
    }
    return features


class PerceptualLoss(nn.Module):
    """Sum over VGG-19 layers of the size-normalised L1 distance between feature maps."""

    def __init__(self, weights_path: str | Path, layers: tuple[int, ...] = VGG19_LAYERS) -> None:
        super().__init__()
        self.layers = layers
        features = nn.Sequential(*list(vgg19_features())[: max(layers) + 1])
        state = load_vgg19_state(weights_path)
        wanted = {k: v for k, v in state.items() if k in features.state_dict()}
        missing = set(features.state_dict()) - set(wanted)
        if missing:
            raise ValueError(f"{weights_path} lacks VGG-19 weights {sorted(missing)[:4]}...")
        features.load_state_dict(wanted)
        features.requires_grad_(False).eval()
        self.features: nn.Sequential = features
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([output, target]) - self.mean) / self.std
        loss = output.new_zeros(())
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.layers:
                out_feat, tgt_feat = x.chunk(2)
                # mean() divides by C*H*W: the poster's 1/(W_i H_i) normalisation per layer.
                loss = loss + (out_feat - tgt_feat).abs().mean()
        return loss


def _gaussian_taps(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


class MultiScaleSSIMLoss(nn.Module):
    """1 - mean SSIM over three scales: a weight-free stand-in for the perceptual loss."""

    def __init__(self, scales: int = 3) -> None:
        super().__init__()
        self.scales = scales
        self.taps: torch.Tensor
        self.register_buffer("taps", _gaussian_taps())

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        # Separable: two 11-tap passes cost a fifth of one 11x11 window.
        c = x.shape[1]
        taps = self.taps.to(x.dtype)
        x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(x, taps.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

    def _ssim(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c1, c2 = 0.01**2, 0.03**2
        # One blur over all five moment maps at once.
        moments = self._blur(torch.cat([x, y, x * x, y * y, x * y], dim=1))
        mu_x, mu_y, exx, eyy, exy = moments.chunk(5, dim=1)
        sxx, syy, sxy = exx - mu_x**2, eyy - mu_y**2, exy - mu_x * mu_y
        num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
        den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
        return (num / den).mean()

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Always float32, autocast or not: the variances are differences of nearly equal moments
        # (E[x^2] - E[x]^2), which bf16's 8-bit mantissa turns into rounding noise.
        with torch.autocast(output.device.type, enabled=False):
            return self._loss(output.float(), target.float())

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = output.new_zeros(())
        for scale in range(self.scales):
            if scale:
                output, target = F.avg_pool2d(output, 2), F.avg_pool2d(target, 2)
            if min(output.shape[-2:]) < 11:
                break
            total = total + (1.0 - self._ssim(output, target))
        return total / self.scales


def build_perceptual_loss(vgg_weights: str | Path | None) -> nn.Module:
    """The VGG-19 perceptual loss when weights are given, else the MS-SSIM stand-in (logged)."""
    if vgg_weights:
        log.info("perceptual loss: VGG-19 features from %s", vgg_weights)
        return PerceptualLoss(vgg_weights)
    log.warning(
        "no VGG-19 weights given (--vgg-weights): using the weight-free multi-scale SSIM loss "
        "in place of the perceptual loss"
    )
    return MultiScaleSSIMLoss()
