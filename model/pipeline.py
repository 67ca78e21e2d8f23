"""Full-resolution correction: prepare a photo, predict a batch, apply at full size.

The one recipe every caller uses (the service's route and worker, the CLI, evaluation, the
benchmarks):

    canvas = prepare(photo, working_size)              # CPU, per photo
    choice = choose_ev(estimator, canvas, client_ev)    # CPU, per photo: the one EV choice
    predictions = predict(generator, batch, evs)        # one forward pass over stacked canvases
    corrected = apply(photo, canvas, prediction)        # CPU, per photo, at full size

Every photo, whatever its size, becomes one square canvas of `working_size` pixels (downscaled
if larger, mirror-padded if smaller), so photos of any size share a forward pass. The generator
predicts one tone curve per photo and a fill map for clipped values (model.tone). The curve is
applied at full resolution as a look-up table, exact for 8- and 16-bit photos, so unclipped
detail survives; the fill map is interpolated, and everything is applied one strip of rows at a
time, so memory stays bounded and there are no seams between strips.

The generator is always told an EV: the client's when it gave one, else the exposure
estimator's (model.estimator), which looks at the same canvas on the CPU.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.estimator import ExposureEstimator
from model.generator import Generator
from model.layers import bilinear_source, mirror_pad
from model.tone import apply_curve, clip_mask, compose, curve_table

# Pixels per strip when reading or writing the photo at full resolution: bounds peak memory to
# a few float copies of one strip (3 MB each), small enough to stay in cache.
STRIP_PIXELS = 1 << 18


@dataclass(frozen=True)
class Prediction:
    """What the generator says about one canvas."""

    ev: float  # stops of overexposure taken back
    ev_source: str  # 'client' (given with the request) or 'estimate' (the model's)
    knots: torch.Tensor  # (K + 1,) the tone curve, see model.tone
    fills: torch.Tensor  # (6, S, S) in [0, 1], see model.tone.compose


@dataclass(frozen=True)
class EvChoice:
    """The stops of overexposure a photo is corrected for, and where they came from."""

    ev: float
    source: str  # 'client' (given with the request) or 'estimate' (the estimator's)


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
    # .float() copies before anything writes, so the shared memory is never touched.
    scale = 1.0 / _max_value(image.dtype)
    return _hwc_tensor(image).permute(2, 0, 1).float().mul_(scale)


def prepare(image: np.ndarray, working_size: int) -> Canvas:
    """Turns an (H, W, 3) uint8, uint16 or float [0, 1] photo into a generator canvas."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("expected an (H, W, 3) RGB array")
    height, width = image.shape[:2]
    scale = min(1.0, working_size / max(height, width))
    low_h, low_w = max(1, round(height * scale)), max(1, round(width * scale))
    low = _to_chw_float(image) if scale == 1.0 else _downscale(image, low_h, low_w)
    canvas = mirror_pad(low, working_size, working_size).contiguous()
    return Canvas(canvas, height, width, low_h, low_w)


def _downscale(image: np.ndarray, low_h: int, low_w: int) -> torch.Tensor:
    """Area-averages (H, W, 3) to (3, low_h, low_w) floats in [0, 1], one strip at a time.

    Averaging is separable: each strip of rows is pooled to `low_w` columns, then the narrow
    (H, low_w) result is pooled to `low_h` rows. The same bins and numbers as
    F.adaptive_avg_pool2d, without ever holding the whole photo as floats (4x the size of a
    uint8 photo), and about 4x faster on a 0.4 MP photo (that kernel loops per output).
    """
    height, width = image.shape[:2]
    # One zero row (and one zero column of the strip buffer) past the end: what shorter bins
    # read. The buffer is reused by every strip, and the bins are worked out once per axis.
    narrow = torch.zeros(height + 1, low_w, 3)
    buffer = torch.zeros(max(1, STRIP_PIXELS // max(1, width)), width + 1, 3)
    columns = _pool_bins(width, low_w)
    for start, stop in _strips(height, width):
        strip = buffer[: stop - start]
        strip[:, :width] = _hwc_tensor(image[start:stop])
        narrow[start:stop] = _pool_axis(strip, columns, dim=1)
    low = _pool_axis(narrow, _pool_bins(height, low_h), dim=0).permute(2, 0, 1)
    return low.mul_(1.0 / _max_value(image.dtype))


@functools.lru_cache(maxsize=16)
def _pool_bins(n_in: int, n_out: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Adaptive average pooling from `n_in` to `n_out` along one axis: for each step into the
    bins, the input each bin reads (`n_in`, a zero slice past the data, where a bin is shorter
    than that), and each bin's length.

    Bin j covers inputs floor(j n_in / n_out) to ceil((j + 1) n_in / n_out), as in
    F.adaptive_avg_pool2d. Bins hold at most a few inputs, so pooling is a few gathers of whole
    slices.
    """
    j = torch.arange(n_out)
    start = (j * n_in) // n_out
    length = -((-(j + 1) * n_in) // n_out) - start
    steps = [torch.where(step < length, start + step, n_in) for step in range(int(length.max()))]
    return tuple(steps), length.float()


def _pool_axis(
    x: torch.Tensor, bins: tuple[tuple[torch.Tensor, ...], torch.Tensor], dim: int
) -> torch.Tensor:
    """Pools `x` along `dim` with `_pool_bins`' bins; `x` ends along `dim` with one slice of
    zeros that is not part of the data."""
    steps, length = bins
    total = x.index_select(dim, steps[0])
    for index in steps[1:]:
        total += x.index_select(dim, index)
    shape = [1] * x.dim()
    shape[dim] = len(length)
    return total.div_(length.view(shape))


def _hwc_tensor(image: np.ndarray) -> torch.Tensor:
    """The (h, w, 3) array as a tensor, sharing its memory (nothing here writes to it)."""
    with warnings.catch_warnings():
        # Read-only arrays (decoded images) are fine: nothing writes through the tensor.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(image))


def _strips(height: int, width: int) -> Iterator[tuple[int, int]]:
    rows = max(1, STRIP_PIXELS // max(1, width))
    for start in range(0, height, rows):
        yield start, min(height, start + rows)


def choose_ev(
    estimator: ExposureEstimator | None, canvas: Canvas, client_ev: float | None
) -> EvChoice:
    """The EV to correct `canvas` for: the client's when given, else the estimator's."""
    if client_ev is not None:
        return EvChoice(float(client_ev), "client")
    if estimator is None:
        raise ValueError("no EV given and no exposure estimator to estimate one")
    ev = estimator.estimate_canvas(canvas.tensor, canvas.low_height, canvas.low_width)
    return EvChoice(ev, "estimate")


def predict(
    generator: Generator,
    batch: torch.Tensor,
    evs: Sequence[float] | None = None,
    sources: Sequence[str] | None = None,
) -> list[Prediction]:
    """One forward pass over stacked canvases (N, 3, S, S), already on the generator's device
    and in its memory format, each corrected for its EV (choose_ev; default 0: as it is);
    `sources` say where each EV came from. Returns each canvas's prediction in float32 on the
    CPU."""
    given = [0.0] * len(batch) if evs is None else list(evs)
    said = ["client"] * len(batch) if sources is None else list(sources)
    if len(given) != len(batch) or len(said) != len(batch):
        raise ValueError(f"{len(batch)} canvases but {len(given)} EVs and {len(said)} sources")
    if any(e is None or not math.isfinite(e) for e in given):
        raise ValueError("every canvas needs an EV; choose_ev picks one")
    ev = torch.tensor(given, dtype=torch.float32, device=batch.device)
    with torch.inference_mode():
        out = generator.predict(batch, ev)
    knots, fills = out.knots.float().cpu(), out.fills.float().cpu()
    return [
        Prediction(float(e), s, k, f) for e, s, k, f in zip(given, said, knots, fills, strict=True)
    ]


def apply(image: np.ndarray, canvas: Canvas, prediction: Prediction) -> np.ndarray:
    """Applies the prediction for `canvas` to the photo at its full size and dtype.

    Every value goes through the tone curve, read from a table of every code of the photo's
    dtype (exact, and the cheapest per-pixel work there is); clipped values also get the fill,
    carried up from the working size by bilinear interpolation, while the mask comes from the
    full-resolution value itself, so clipped edges stay sharp. The photo is done one strip of
    rows at a time; every strip uses the whole photo's coordinates, so strips join seamlessly.

    A value below the mask never takes the fill, so for 8- and 16-bit photos its output is one
    table look-up; only pixels with a value in the mask are composed, gathered where a strip
    has few of them (most photos), the whole strip where it has many: the same numbers as
    composing every value (`_apply_dense`), at a fraction of the cost.
    """
    if not np.issubdtype(image.dtype, np.integer):
        return _apply_dense(image, canvas, prediction)
    max_value = _max_value(image.dtype)
    table = curve_table(prediction.knots, int(max_value) + 1).float()
    codes = torch.arange(int(max_value) + 1).float().mul_(1.0 / max_value)
    # The output of an unmasked code, rounded exactly as a composed value is.
    plain = table.clamp(0.0, 1.0).mul(max_value).round_().numpy().astype(image.dtype)
    masked = torch.nonzero(clip_mask(codes) > 0)  # the codes in the mask: the top ones
    threshold = int(masked[0]) if len(masked) else None
    result = np.empty(image.shape, dtype=image.dtype)
    fills: _FillMap | None = None
    for start, stop in _strips(canvas.height, canvas.width):
        strip, out = image[start:stop], result[start:stop]
        np.take(plain, strip, out=out)
        if threshold is None:
            continue
        # The brightest channel of each pixel (three elementwise maxima: `.any(axis=-1)` over
        # an axis of three measured 20x slower).
        hot = np.maximum(np.maximum(strip[..., 0], strip[..., 1]), strip[..., 2]) >= threshold
        count = int(np.count_nonzero(hot))
        if count == 0:
            continue
        fills = fills or _FillMap(canvas, prediction)
        if count > _GATHER_SHARE * hot.size:
            fill, raw = fills.rows(start, stop), _hwc_tensor(strip)
            out[...] = _composed(raw, table[raw.long()], fills.top, fill, max_value).numpy()
            continue
        ys, xs = np.nonzero(hot)
        fill = fills.at(torch.from_numpy(ys + start), torch.from_numpy(xs))
        raw = _hwc_tensor(strip[ys, xs])
        out[ys, xs] = _composed(raw, table[raw.long()], fills.top, fill, max_value).numpy()
    return result


# Above this share of a strip's pixels in the mask, composing the whole strip is cheaper than
# gathering those pixels (which costs a few times as much per pixel).
_GATHER_SHARE = 0.2


def _composed(
    raw: torch.Tensor, curved: torch.Tensor, top: torch.Tensor, fill: torch.Tensor, max_value: float
) -> torch.Tensor:
    """Integer values (..., 3), their curve values and fills -> output values, rounded, in the
    values' dtype."""
    x = raw.float().mul_(1.0 / max_value)
    return compose(x, curved, top, fill, dim=-1).mul_(max_value).round_().to(raw.dtype)


class _FillMap:
    """The prediction's fill map at the photo's full width, read by rows or at pixels."""

    def __init__(self, canvas: Canvas, prediction: Prediction) -> None:
        self.top = torch.tensor(float(prediction.knots[-1]))
        low_fill = prediction.fills[:, : canvas.low_height, : canvas.low_width].float().cpu()
        # Widened to full width once (at most a few tens of MB: the canvas has at most
        # working_size rows) and stored (h, W, 6) like the photo, so a row only blends two.
        self.wide = _widen(low_fill, canvas.width)
        self.y0, self.y1, self.wy = bilinear_source(canvas.height, canvas.low_height)

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """(stop - start, W, 6): the fills of rows start..stop-1 of the photo."""
        r = slice(start, stop)
        return torch.lerp(self.wide[self.y0[r]], self.wide[self.y1[r]], self.wy[r][:, None, None])

    def at(self, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """(K, 6): the fills at pixels (ys, xs), the same numbers as `rows` gives there."""
        low, high = self.wide[self.y0[ys], xs], self.wide[self.y1[ys], xs]
        return torch.lerp(low, high, self.wy[ys][:, None])


def _apply_dense(image: np.ndarray, canvas: Canvas, prediction: Prediction) -> np.ndarray:
    """`apply` composing every value (float photos; and for integer ones the definition that
    `apply`'s table and gathering are tested against)."""
    max_value = _max_value(image.dtype)
    integer = np.issubdtype(image.dtype, np.integer)
    table = curve_table(prediction.knots, int(max_value) + 1).float() if integer else None
    result = np.empty(image.shape, dtype=image.dtype)
    out = torch.from_numpy(result)
    fills = _FillMap(canvas, prediction)
    for start, stop in _strips(canvas.height, canvas.width):
        fill, raw = fills.rows(start, stop), _hwc_tensor(image[start:stop])
        if table is not None:
            out[start:stop] = _composed(raw, table[raw.long()], fills.top, fill, max_value)
        else:
            x = raw.float()
            out[start:stop] = compose(x, _curve_float(x, prediction.knots), fills.top, fill, dim=-1)
    return result


def _curve_float(x: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    return apply_curve(x.reshape(1, -1), knots[None].float()).reshape(x.shape)


def _widen(maps: torch.Tensor, width: int) -> torch.Tensor:
    """Bilinearly resizes (C, h, w) maps to (h, width, C) along the columns only."""
    size = (int(maps.shape[1]), width)
    wide = F.interpolate(maps[None], size=size, mode="bilinear", align_corners=False)
    return wide[0].permute(1, 2, 0).contiguous()


def correct_images(
    generator: Generator,
    images: Sequence[np.ndarray],
    evs: Sequence[float | None] | None = None,
    batch_size: int = 8,
    estimator: ExposureEstimator | None = None,
) -> list[np.ndarray]:
    """Corrects photos synchronously, batching their canvases (for scripts and evaluation).

    `evs`: per photo, the stops of overexposure to take back, or None to let `estimator`
    estimate them.
    """
    device = next(generator.parameters()).device
    size = generator.config.working_size
    given = [None] * len(images) if evs is None else list(evs)
    results: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        canvases = [prepare(img, size) for img in chunk]
        choices = [
            choose_ev(estimator, c, e)
            for c, e in zip(canvases, given[start : start + batch_size], strict=True)
        ]
        batch = torch.stack([c.tensor for c in canvases]).to(device)
        predictions = predict(
            generator, batch, [c.ev for c in choices], [c.source for c in choices]
        )
        results.extend(
            apply(img, c, p) for img, c, p in zip(chunk, canvases, predictions, strict=True)
        )
    return results
