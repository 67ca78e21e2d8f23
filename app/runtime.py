"""Where and how the generator runs: device, precision and memory format, fixed once at load.

The service's worker and the command line both place and run the model through a Runtime, so
a photo corrected by either goes through the same arithmetic.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from model import Generator, Prediction, predict

log = logging.getLogger(__name__)


class NonFiniteOutput(RuntimeError):
    """The model's outputs for a batch hold NaN or infinity even in float32."""


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype on CUDA: bf16 by default, fp16 only when asked; None (float32 or
    TF32) for `fp32`, `tf32` and on the CPU.

    bf16, not fp16: the generator has no normalisation, and its decoder's activations reach
    about 1.2e5 on real overexposed photos, past fp16's largest value (65,504), so fp16 turns
    fills into NaN and pixels black. bf16 has float32's range; its shorter mantissa only moves
    the small outputs (a tone curve, a fill at working size) that are applied in float32.
    """
    if device.type != "cuda" or precision in ("fp32", "tf32"):
        return None
    return torch.float16 if precision == "fp16" else torch.bfloat16


def all_finite(predictions: Sequence[Prediction]) -> bool:
    """Whether every EV, knot and fill value of a batch's predictions is a finite number."""
    return all(
        math.isfinite(p.ev) and bool(torch.isfinite(p.knots).all() & torch.isfinite(p.fills).all())
        for p in predictions
    )


def guarded_predict(
    generator: Generator,
    inputs: torch.Tensor,
    evs: Sequence[float] | None,
    sources: Sequence[str] | None,
    amp: torch.dtype | None,
    on_fallback: Callable[[], None] | None = None,
) -> list[Prediction]:
    """One forward pass under autocast to `amp` (None: float32) on the inputs' device.

    A batch with a non-finite output is run again in float32 (`on_fallback` counts it): one
    photo that overflows half precision costs one more pass, never a black hole in a photo.
    Non-finite in float32 too, it raises NonFiniteOutput rather than return broken pixels.
    """
    with torch.autocast(inputs.device.type, dtype=amp or torch.float32, enabled=amp is not None):
        predictions = predict(generator, inputs, evs, sources)
    if all_finite(predictions):
        return predictions
    if amp is not None:
        log.warning("non-finite outputs in %s on %d image(s); rerun in float32", amp, len(inputs))
        if on_fallback is not None:
            on_fallback()
        predictions = predict(generator, inputs, evs, sources)
        if all_finite(predictions):
            return predictions
    raise NonFiniteOutput(f"the model's outputs for {len(inputs)} image(s) are not finite")


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()  # None where the C library is not glibc (musl, macOS): nothing to trim


@dataclass(frozen=True)
class Runtime:
    """A device and a precision (EXPOSURE_PRECISION: auto, bf16, fp16, tf32 or fp32; the CPU
    always runs float32)."""

    device: torch.device
    precision: str = "auto"
    # None: the device's own layout (channels_last on the CPU, NCHW on CUDA); the GPU check
    # measures both on CUDA.
    channels_last: bool | None = None

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for float32 (TF32 where `tf32` was asked)."""
        return autocast_dtype(self.device, self.precision)

    @property
    def memory_format(self) -> torch.memory_format:
        if self.channels_last is not None:
            return torch.channels_last if self.channels_last else torch.contiguous_format
        # channels_last on the CPU: oneDNN's convolutions then skip their layout reorders
        # (measured 10-25% less CPU per canvas at batch 1-8 on the serving Xeon).
        return torch.channels_last if self.device.type == "cpu" else torch.contiguous_format

    def place(self, generator: Generator) -> Generator:
        """The generator on this device, its 4-D weights in this memory format; call once."""
        if self.device.type == "cuda":
            # torch lets cuDNN run float32 convolutions as TF32 unless told not to: `fp32`
            # (and the float32 rerun of a non-finite batch) means float32, `tf32` says TF32.
            tf32 = self.precision == "tf32"
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
        placed = generator.to(self.device)
        # Module.to takes memory_format (it converts the 4-D tensors); torch's stubs omit it.
        return placed.to(memory_format=self.memory_format)  # type: ignore[call-overload,no-any-return]

    @torch.inference_mode()
    def predict(
        self,
        generator: Generator,
        batch: torch.Tensor,
        evs: Sequence[float] | None = None,
        sources: Sequence[str] | None = None,
        on_fallback: Callable[[], None] | None = None,
    ) -> list[Prediction]:
        """One forward pass over CPU canvases, each told its EV (model.pipeline.predict); each
        prediction in float32 on the CPU. `on_fallback` is called when a half-precision batch
        had to be rerun in float32."""
        if self.device.type != "cuda":
            inputs = batch.contiguous(memory_format=self.memory_format)
        else:
            inputs = batch.pin_memory().to(self.device, non_blocking=True)
            inputs = inputs.contiguous(memory_format=self.memory_format)
        return guarded_predict(generator, inputs, evs, sources, self.amp_dtype, on_fallback)

    def free_memory(self) -> None:
        """Returns freed memory to the system: CUDA's cache after an out-of-memory error; on the
        CPU, glibc's free heap pages after the warm-up's large batches (about 150 MB at batch 8,
        which the allocator would otherwise keep for the life of the process)."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        elif _LIBC is not None:
            _LIBC.malloc_trim(0)
