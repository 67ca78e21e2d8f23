"""A request's CPU work in two jobs: bytes -> checked photo and canvas; prediction -> bytes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from model import (
    Canvas,
    EvChoice,
    ExposureEstimator,
    Prediction,
    apply,
    choose_ev,
    overexpose,
    overexpose_uint8,
    prepare,
)
from model.photo import DecodedImage, check_encodable, decode, encode


@dataclass
class Upload:
    """A decoded upload, the output format it will be written in, and, for a correction, its
    generator canvas and the EV it is corrected for."""

    photo: DecodedImage
    fmt: str
    canvas: Canvas | None = None
    choice: EvChoice | None = None
    # Seconds spent in each stage of its CPU jobs, for exposure_stage_duration_seconds.
    stage_s: dict[str, float] = field(default_factory=dict)


def read_upload(
    data: bytes,
    max_pixels: int,
    fmt: str | None,
    working_size: int | None = None,
    estimator: ExposureEstimator | None = None,
    ev: float | None = None,
) -> Upload:
    """Decodes, checks the output format can hold it and, given a working size, builds the
    canvas and chooses the EV (the client's `ev`, else the estimator's): one job."""
    started = time.perf_counter()
    photo = decode(data, max_pixels)
    chosen = fmt or photo.family
    check_encodable(photo.color.shape, chosen)
    decoded = time.perf_counter()
    upload = Upload(photo, chosen, stage_s={"decode": decoded - started})
    if working_size is not None:
        upload.canvas = make_canvas(photo.color, working_size)
        built = time.perf_counter()
        upload.choice = choose_ev(estimator, upload.canvas, ev)
        upload.stage_s["canvas"] = built - decoded
        if upload.choice.source == "estimate":  # a client's EV costs nothing to choose
            upload.stage_s["estimate"] = time.perf_counter() - built
    return upload


def write_correction(upload: Upload, prediction: Prediction, quality: int | None) -> bytes:
    """Applies the prediction at full size and encodes the result: one job."""
    assert upload.canvas is not None, "read_upload was not given a working size"
    started = time.perf_counter()
    color = finish_correction(upload.photo.color, upload.canvas, prediction)
    applied = time.perf_counter()
    body = _encode(upload, color, quality)
    upload.stage_s.update(apply=applied - started, encode=time.perf_counter() - applied)
    return body


def write_simulation(upload: Upload, tau: float, gamma: float, quality: int | None) -> bytes:
    """Overexposes as SPEC section 1 and encodes the result: one job."""
    return _encode(upload, simulate_overexposure(upload.photo.color, tau, gamma), quality)


def _encode(upload: Upload, color: np.ndarray, quality: int | None) -> bytes:
    photo = upload.photo
    return encode(color, photo.alpha, photo.icc_profile, upload.fmt, quality)


def make_canvas(color: np.ndarray, working_size: int) -> Canvas:
    """The generator canvas of an (H, W, 1 or 3) photo; grayscale is seen as equal RGB."""
    return prepare(_as_rgb(color), working_size)


def finish_correction(color: np.ndarray, canvas: Canvas, prediction: Prediction) -> np.ndarray:
    """Applies the generator's prediction at full size, in the photo's channels and dtype."""
    result: np.ndarray = apply(_as_rgb(color), canvas, prediction)
    if int(color.shape[2]) == 3:
        return result
    # Grayscale in, grayscale out: the channel mean, rounded.
    total = result.astype(np.uint32).sum(axis=2, keepdims=True)
    gray: np.ndarray = ((total + 1) // 3).astype(color.dtype)
    return gray


def simulate_overexposure(color: np.ndarray, tau: float, gamma: float) -> np.ndarray:
    """SPEC section 1 on 8- or 16-bit values: float32, then round half to even."""
    if color.dtype == np.uint8:
        return overexpose_uint8(color, tau, gamma)
    scale = np.float32(np.iinfo(color.dtype).max)
    values = overexpose(color.astype(np.float32) / scale, tau, gamma)
    return np.round(values * scale).astype(color.dtype)


def _as_rgb(color: np.ndarray) -> np.ndarray:
    return np.repeat(color, 3, axis=2) if int(color.shape[2]) == 1 else color
