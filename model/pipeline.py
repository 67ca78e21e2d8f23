"""Full-resolution correction: look at the photo at the working size, apply at full size.

Every photo, whatever its size, becomes one square canvas of `working_size` pixels (downscaled
if larger, mirror-padded if smaller), so photos of any size share a forward pass. The generator's
output is carried back to full resolution by guided upsampling (a local affine model of output
on input, as in He & Sun's fast guided filter): in regions that did not clip, output = gain *
input holds exactly, so full-resolution detail survives; clipped regions get the generator's fill.
The affine maps are interpolated and applied one strip of rows at a time, a pointwise formula,
so memory stays bounded and there are no seams between strips.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.generator import Generator

# Guided upsampling: window radius at the working resolution and regularisation of the fit.
GUIDE_RADIUS = 2
GUIDE_EPS = 1e-4
# Pixels per strip when reading or writing the photo at full resolution: bounds peak memory to
# a few float copies of one strip (3 MB each), small enough to stay in cache.
STRIP_PIXELS = 1 << 18


@dataclass
class Canvas:
    """A photo prepared for the generator: a (3, S, S) float32 tensor and how to undo it."""

    tensor: torch.Tensor
    height: int  # full-resolution size
    width: int
    low_height: int  # size of the photo inside the canvas
    low_width: int

    @property
    def downscaled(self) -> bool:
        return (self.low_height, self.low_width) != (self.height, self.width)


def _max_value(dtype: np.dtype) -> float:
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    return 1.0


def _to_chw_float(image: np.ndarray) -> torch.Tensor:
    scale = 1.0 / _max_value(image.dtype)
    with warnings.catch_warnings():
        # Read-only arrays (decoded images) are fine: .float() copies before anything writes.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.from_numpy(np.ascontiguousarray(image))
    return tensor.permute(2, 0, 1).float().mul_(scale)


def _mirror_pad(x: torch.Tensor, size: int) -> torch.Tensor:
    """Pads (C, h, w) to (C, size, size) by repeated mirroring (works for any pad width)."""
    while x.shape[-2] < size or x.shape[-1] < size:
        h, w = x.shape[-2:]
        pad_h, pad_w = min(size - h, h - 1), min(size - w, w - 1)
        if (h < size and pad_h == 0) or (w < size and pad_w == 0):
            x = F.pad(x[None], (0, size - w, 0, size - h), mode="replicate")[0]
            break
        x = F.pad(x[None], (0, pad_w, 0, pad_h), mode="reflect")[0]
    return x


def to_canvas(image: np.ndarray, working_size: int) -> Canvas:
    """Turns an (H, W, 3) uint8, uint16 or float [0, 1] photo into a generator canvas."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("expected an (H, W, 3) RGB array")
    height, width = image.shape[:2]
    scale = min(1.0, working_size / max(height, width))
    low_h, low_w = max(1, round(height * scale)), max(1, round(width * scale))
    low = _to_chw_float(image) if scale == 1.0 else _downscale(image, low_h, low_w)
    return Canvas(_mirror_pad(low, working_size).contiguous(), height, width, low_h, low_w)


def _downscale(image: np.ndarray, low_h: int, low_w: int) -> torch.Tensor:
    """Area-averages (H, W, 3) to (3, low_h, low_w) floats in [0, 1], one strip at a time.

    Averaging is separable: each strip of rows is pooled to `low_w` columns, then the narrow
    (H, low_w) result is pooled to `low_h` rows. The same bins as F.adaptive_avg_pool2d, without
    ever holding the whole photo as floats (4x the size of a uint8 photo).
    """
    height, width = image.shape[:2]
    narrow = torch.empty(1, 3, height, low_w)
    for start, stop in _strips(height, width):
        strip = _hwc_tensor(image[start:stop]).float().permute(2, 0, 1)[None]
        narrow[:, :, start:stop] = F.adaptive_avg_pool2d(strip, (stop - start, low_w))
    low = F.adaptive_avg_pool2d(narrow, (low_h, low_w))[0]
    return low.mul_(1.0 / _max_value(image.dtype))


def _hwc_tensor(image: np.ndarray) -> torch.Tensor:
    """The (h, w, 3) array as a tensor, sharing its memory (nothing here writes to it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(image))


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def _affine_maps(low_in: torch.Tensor, low_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel, per-channel a, b with low_out ~ a * low_in + b (both (3, h, w))."""
    i, o = low_in[None], low_out[None]
    r = GUIDE_RADIUS
    mean_i, mean_o = _box(i, r), _box(o, r)
    cov = _box(i * o, r) - mean_i * mean_o
    var = _box(i * i, r) - mean_i * mean_i
    a = cov / (var + GUIDE_EPS)
    b = mean_o - a * mean_i
    return _box(a, r)[0], _box(b, r)[0]


def _source_coords(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear source indices and weights, as F.interpolate(align_corners=False) computes them."""
    pos = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp(min=0)
    i0 = pos.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, (pos - i0).float()


def _strips(height: int, width: int) -> Iterator[tuple[int, int]]:
    rows = max(1, STRIP_PIXELS // max(1, width))
    for start in range(0, height, rows):
        yield start, min(height, start + rows)


def from_canvas(image: np.ndarray, canvas: Canvas, output: torch.Tensor) -> np.ndarray:
    """Carries the generator's (3, S, S) output back to the photo's full size and dtype."""
    max_value = _max_value(image.dtype)
    low_out = output[:, : canvas.low_height, : canvas.low_width].float().cpu()
    result = np.empty(image.shape, dtype=image.dtype)
    if not canvas.downscaled:
        _store(result, slice(None), low_out, max_value)
        return result
    low_in = canvas.tensor[:, : canvas.low_height, : canvas.low_width]
    a, b = _affine_maps(low_in, low_out)
    # The photo keeps its own units (0..255 for uint8): output = a * pixel + b * max_value,
    # so no strip is ever scaled to [0, 1] and back. The maps are widened to full width once
    # (at most a few tens of MB: the canvas has at most working_size rows) and stored
    # (h, W, 3) like the photo, so each strip only blends two rows and nothing is permuted.
    a_wide = _widen(a, canvas.width)
    b_wide = _widen(b.mul_(max_value), canvas.width)
    y0, y1, wy = _source_coords(canvas.height, canvas.low_height)
    integer = np.issubdtype(image.dtype, np.integer)
    out = torch.from_numpy(result)
    for start, stop in _strips(canvas.height, canvas.width):
        rows = slice(start, stop)
        # Every strip uses the whole photo's row coordinates, so strips join without seams.
        wr = wy[rows][:, None, None]
        a_full = torch.lerp(a_wide[y0[rows]], a_wide[y1[rows]], wr)
        b_full = torch.lerp(b_wide[y0[rows]], b_wide[y1[rows]], wr)
        values = torch.addcmul(b_full, a_full, _hwc_tensor(image[rows]).float())
        values.clamp_(0.0, max_value)
        out[rows] = values.round_() if integer else values
    return result


def _widen(maps: torch.Tensor, width: int) -> torch.Tensor:
    """Bilinearly resizes (3, h, w) maps to (h, width, 3) along the columns only."""
    size = (int(maps.shape[1]), width)
    wide = F.interpolate(maps[None], size=size, mode="bilinear", align_corners=False)
    return wide[0].permute(1, 2, 0).contiguous()


def _store(result: np.ndarray, rows: slice, chw: torch.Tensor, max_value: float) -> None:
    # Out of place: the caller's output may be an inference tensor, or still in use.
    values = chw.clamp(0.0, 1.0).permute(1, 2, 0)
    if np.issubdtype(result.dtype, np.integer):
        values = values.mul(max_value).round_()
    result[rows] = values.numpy().astype(result.dtype, copy=False)


@torch.inference_mode()
def correct_images(
    generator: Generator, images: Sequence[np.ndarray], batch_size: int = 8
) -> list[np.ndarray]:
    """Corrects photos synchronously, batching their canvases (for scripts and evaluation)."""
    device = next(generator.parameters()).device
    size = generator.config.working_size
    results: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        canvases = [to_canvas(img, size) for img in chunk]
        batch = torch.stack([c.tensor for c in canvases]).to(device)
        outputs = generator(batch)
        results.extend(
            from_canvas(img, c, out) for img, c, out in zip(chunk, canvases, outputs, strict=True)
        )
    return results
