"""Half precision with the shipped checkpoint on real photos, emulated on the CPU.

CUDA's autocast and the CPU's cast the same operations to the same dtype, so running the
service's forward pass under CPU autocast shows what a GPU deployment's arithmetic does to
real outputs: overflow, NaN fills, black pixels. The CUDA tests (test_cuda.py) use a tiny
random model, whose activations never come near fp16's limit.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from app.metrics import Metrics
from app.runtime import NonFiniteOutput, Runtime, autocast_dtype, guarded_predict
from app.worker import InferenceWorker
from model import Generator, Prediction, apply, predict, prepare
from tests.conftest import TINY, tiny_generator
from tests.real_photos import REAL_OVEREXPOSED, shared_photo, shipped_generator

CUDA = torch.device("cuda")


def test_cuda_runs_bf16_unless_told_otherwise() -> None:
    assert autocast_dtype(CUDA, "auto") == torch.bfloat16
    assert autocast_dtype(CUDA, "bf16") == torch.bfloat16
    assert autocast_dtype(CUDA, "fp16") == torch.float16
    assert autocast_dtype(CUDA, "tf32") is None
    assert autocast_dtype(CUDA, "fp32") is None
    assert autocast_dtype(torch.device("cpu"), "auto") is None


def _corrected(image: np.ndarray, prediction: Prediction) -> np.ndarray:
    return apply(image, prepare(image, shipped_generator().config.working_size), prediction)


@pytest.fixture(scope="module", params=REAL_OVEREXPOSED)
def photo(request: pytest.FixtureRequest) -> tuple[np.ndarray, torch.Tensor, Prediction]:
    """A real photo, its canvas and the shipped checkpoint's float32 prediction for it."""
    image = shared_photo(request.param)
    canvas = prepare(image, shipped_generator().config.working_size).tensor[None]
    (exact,) = guarded_predict(shipped_generator(), canvas, [1.0], None, None)
    return image, canvas, exact


def test_the_cuda_default_keeps_real_outputs_finite_and_within_a_level(
    photo: tuple[np.ndarray, torch.Tensor, Prediction],
) -> None:
    image, canvas, exact = photo
    fallbacks: list[int] = []
    amp = autocast_dtype(CUDA, "auto")  # what a GPU deployment runs without settings
    (mixed,) = guarded_predict(
        shipped_generator(), canvas, [1.0], None, amp, lambda: fallbacks.append(1)
    )
    assert not fallbacks  # no rerun needed: the default cannot overflow
    assert torch.isfinite(mixed.fills).all() and torch.isfinite(mixed.knots).all()
    out, ref = _corrected(image, mixed), _corrected(image, exact)
    black = (out.max(axis=-1) == 0) & (image.max(axis=-1) > 16)
    assert not black.any()
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.3  # measured: at most 1 level, mean under 0.21


def test_fp16_keeps_the_shipped_checkpoint_finite_on_real_photos(
    photo: tuple[np.ndarray, torch.Tensor, Prediction],
) -> None:
    """The shipped U-Net is trained with spectral normalisation and a bounded fill, so its
    activations stay in the hundreds: fp16 needs no rerun on the real photos that overflowed
    the unnormalised generator before it (its decoder reached about 1.2e5)."""
    image, canvas, exact = photo
    fallbacks: list[int] = []
    (half,) = guarded_predict(
        shipped_generator(), canvas, [1.0], None, torch.float16, lambda: fallbacks.append(1)
    )
    assert not fallbacks
    out, ref = _corrected(image, half), _corrected(image, exact)
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.3


def _overflowing_generator() -> Generator:
    """The shipped generator with its first block's weights scaled 1e5 times: finite in float32,
    past fp16's largest value (65504) a few blocks later, as an unnormalised U-Net can grow.
    (Scaled 1e4 times the bounded fill still absorbs the overflow: infinite logits give finite
    fills.)"""
    generator = copy.deepcopy(shipped_generator())
    with torch.no_grad():
        generator.downs[0].conv.weight.mul_(1e5)  # type: ignore[union-attr,operator]
    return generator


def test_fp16_overflow_is_caught_and_rerun_in_float32() -> None:
    image = shared_photo(REAL_OVEREXPOSED[1])
    generator = _overflowing_generator()
    canvas = prepare(image, generator.config.working_size).tensor[None]
    with torch.autocast("cpu", dtype=torch.float16):
        (raw,) = predict(generator, canvas, [1.0])
    assert not torch.isfinite(raw.fills).all()

    metrics = Metrics()
    runtime = _EmulatedHalfRuntime(torch.device("cpu"))
    worker = InferenceWorker(
        generator,
        runtime,
        metrics,
        max_batch_size=1,
        max_wait_s=0.0,
        max_queue=4,
    )
    (guarded,) = worker._forward(canvas, [1.0])
    assert metrics.precision_fallbacks._value.get() == 1
    (exact,) = guarded_predict(generator, canvas, [1.0], None, None)
    assert torch.isfinite(exact.fills).all()
    # The float32 answer, up to the rounding of the worker's channels_last layout, which the
    # scaled weights amplify: within a level of the photo.
    assert torch.allclose(guarded.knots, exact.knots, atol=1e-5)
    out, ref = _corrected(image, guarded), _corrected(image, exact)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    assert not ((out.max(axis=-1) == 0) & (image.max(axis=-1) > 16)).any()


class _EmulatedHalfRuntime(Runtime):
    """The CPU runtime with fp16 autocast, as `EXPOSURE_PRECISION=fp16` runs on CUDA."""

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return torch.float16


def test_outputs_not_finite_even_in_float32_fail_the_batch() -> None:
    generator = tiny_generator()
    assert generator.to_fill.bias is not None
    with torch.no_grad():
        generator.to_fill.bias.fill_(float("nan"))
    canvas = torch.rand(2, 3, TINY.working_size, TINY.working_size)
    fallbacks: list[int] = []
    with pytest.raises(NonFiniteOutput, match="2 image"):
        guarded_predict(generator, canvas, None, None, torch.bfloat16, lambda: fallbacks.append(1))
    assert fallbacks == [1]
    with pytest.raises(NonFiniteOutput):
        Runtime(torch.device("cpu")).predict(generator, canvas)
