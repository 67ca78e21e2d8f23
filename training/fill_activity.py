"""Whether a generator's U-Net fill is alive: how far it moves the fill of partially clipped
values from the physical estimates (model.fill_prior), and how large its activations grow.

    python -m training.fill_activity --checkpoint CKPT PHOTO_OR_FOLDER... [--ev 1.0]

Each overexposed photo (bracket inputs, real uploads) is made into the canvas the service runs
and corrected told `--ev`. Over the values of pixels where some but not every channel
clipped, it prints how many there are, the share whose fill the sigmoid has pinned to its
ends (within 1e-6 of 0 or 1: no gradient reaches the U-Net there), the share of those pixels
whose bounded luminance term sits at its bound (where the generator bounds it: the tanh's way
of pinning), their mean, the distance of the fill from the physical estimate, and the
luminance logit's percentiles; then the largest absolute activation after each of the U-Net's
blocks over all photos.

A U-Net without normalisation can grow its activations block by block until the fill's logits
are in the thousands: the fill then sits at 0 (the curve's top) for every clipped value
whatever the photo, and training cannot move it, because the saturated sigmoid passes no
gradient back. This command tells such a checkpoint from a working one in seconds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model import Generator, load_generator
from model.photo import PHOTO_SUFFIXES, read_rgb
from model.pipeline import prepare
from training.command import command_parser, exit_status
from training.fill_stats import at_bound_share, partial_clip, pinned_share
from training.photos import find_photos


@dataclass(frozen=True)
class FillActivity:
    """What the fill did on one photo's partially clipped values."""

    name: str
    values: int  # clipped values of pixels where some, not every, channel clipped
    pinned: float  # share of them whose fill is within fill_stats.PINNED of 0 or 1
    at_bound: float | None  # share of their pixels whose bounded luminance term is at its bound
    mean: float  # their mean fill (0: the curve's top, 1: white)
    moved: float  # mean |fill - physical estimate| over them
    luma_logits: tuple[float, float, float]  # the U-Net's luminance logit there: p1, p50, p99


def measure(
    generator: Generator, image: np.ndarray, ev: float, name: str = ""
) -> tuple[FillActivity, list[float]]:
    """The fill's activity on one RGB uint8 photo, and the largest |activation| after each
    down and up block of the U-Net."""
    # The canvas the service would run (model.pipeline.prepare: area-downscaled to the working
    # size, mirror-padded square); the figures cover the photo's part of it.
    canvas = prepare(image, generator.config.working_size)
    x = canvas.tensor[None]
    peaks: list[float] = []
    hooks = [
        block.register_forward_hook(_record_peak(peaks))
        for block in [*generator.downs, *generator.ups]
    ]
    try:
        with torch.no_grad():
            parts = generator.fill_parts(x, torch.tensor([ev]))
    finally:
        for hook in hooks:
            hook.remove()
    luma_range = generator.config.fill_luma_range
    h, w = canvas.low_height, canvas.low_width
    photo = x[..., :h, :w]
    prior = parts.prior[..., :h, :w]
    fills = generator.output(parts).fills[..., :h, :w]
    partial, where = partial_clip(photo)
    fill = fills[:, 3:][where]
    estimate = prior[:, 3:][where]
    luma = parts.logits[:, 0, :h, :w][partial]
    if fill.numel() == 0:
        nan = float("nan")
        return FillActivity(name, 0, nan, None, nan, nan, (nan,) * 3), peaks
    pinned = pinned_share(photo, fills).item()
    quantiles = torch.quantile(
        luma[:: max(1, luma.numel() // 100_000)], torch.tensor([0.01, 0.5, 0.99])
    ).tolist()
    activity = FillActivity(
        name,
        int(fill.numel()),
        pinned,
        at_bound_share(luma, luma_range),
        fill.mean().item(),
        (fill - estimate).abs().mean().item(),
        (quantiles[0], quantiles[1], quantiles[2]),
    )
    return activity, peaks


def _record_peak(peaks: list[float]) -> Callable[[nn.Module, object, torch.Tensor], None]:
    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        peaks.append(output.detach().abs().amax().item())

    return hook


def photo_paths(inputs: Sequence[Path]) -> list[Path]:
    """The photos named, and those under the folders named (training.photos.find_photos)."""
    paths: list[Path] = []
    for item in inputs:
        if item.is_dir():
            paths.extend(find_photos(item))
        elif item.is_file():
            paths.append(item)
        else:
            raise FileNotFoundError(f"{item} is neither a photo nor a folder")
    if not paths:
        raise ValueError(f"no photos found ({', '.join(sorted(PHOTO_SUFFIXES))})")
    return paths


def report(generator: Generator, paths: Sequence[Path], ev: float) -> str:
    """The table over the photos, then the U-Net's activation peaks."""
    lines = [
        "| photo | partially clipped values | fill pinned | luminance at its bound | mean fill "
        "| mean move from the estimate | luminance logit p1 / p50 / p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    peaks: list[float] = []
    for path in paths:
        activity, found = measure(generator, read_rgb(path.read_bytes()), ev, path.name)
        peaks = found if not peaks else [max(a, b) for a, b in zip(peaks, found, strict=True)]
        if activity.values == 0:
            lines.append(f"| {activity.name} | 0 | - | - | - | - | - |")
            continue
        p1, p50, p99 = activity.luma_logits
        bound = "-" if activity.at_bound is None else f"{activity.at_bound:.3f}"
        lines.append(
            f"| {activity.name} | {activity.values} | {activity.pinned:.3f} | {bound} "
            f"| {activity.mean:.4f} | {activity.moved:.3f} | {p1:.1f} / {p50:.1f} / {p99:.1f} |"
        )
    depth = len(generator.downs)
    names = [f"down {i + 1}" for i in range(depth)] + [f"up {i + 1}" for i in range(depth - 1)]
    peak_text = ", ".join(f"{n} {p:.3g}" for n, p in zip(names, peaks, strict=True))
    lines.append(f"\nLargest |activation| after each U-Net block: {peak_text}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: prints the table."""
    parser = command_parser("training.fill_activity", __doc__)
    parser.add_argument("inputs", type=Path, nargs="+", help="overexposed photos or folders")
    parser.add_argument("--checkpoint", type=Path, required=True, help="generator checkpoint")
    parser.add_argument("--ev", type=float, default=1.0, help="stops told (default 1)")
    args = parser.parse_args(argv)

    def body() -> None:
        generator, _ = load_generator(args.checkpoint)
        print(report(generator, photo_paths(args.inputs), args.ev))

    return exit_status(body)


if __name__ == "__main__":
    sys.exit(main())
