"""Where and how the generator runs: device, precision and memory format, fixed once at load.

The service's worker and the command line both place and run the model through a Runtime, so
a photo corrected by either goes through the same arithmetic.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model import Generator, Prediction, predict


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """Half precision on CUDA (fp16 by default: its 11-bit mantissa keeps 8-bit output exact
    enough, where bf16's 8 bits would not); CPU always runs in float32."""
    if device.type != "cuda" or precision == "fp32":
        return None
    return torch.bfloat16 if precision == "bf16" else torch.float16


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
    """A device and a precision (`auto`, `fp32`, `bf16`: EXPOSURE_PRECISION)."""

    device: torch.device
    precision: str = "auto"

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for float32."""
        return autocast_dtype(self.device, self.precision)

    @property
    def memory_format(self) -> torch.memory_format:
        # channels_last on the CPU: oneDNN's convolutions then skip their layout reorders
        # (measured 10-25% less CPU per canvas at batch 1-8 on the serving Xeon).
        return torch.channels_last if self.device.type == "cpu" else torch.contiguous_format

    def place(self, generator: Generator) -> Generator:
        """The generator on this device, its 4-D weights in this memory format; call once."""
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
    ) -> list[Prediction]:
        """One forward pass over CPU canvases, each told its EV (model.pipeline.predict); each
        prediction in float32 on the CPU."""
        if self.device.type != "cuda":
            batch = batch.contiguous(memory_format=self.memory_format)
            return predict(generator, batch, evs, sources)
        inputs = batch.pin_memory().to(self.device, non_blocking=True)
        amp = self.amp_dtype
        with torch.autocast("cuda", dtype=amp or torch.float32, enabled=amp is not None):
            return predict(generator, inputs, evs, sources)

    def free_memory(self) -> None:
        """Returns freed memory to the system: CUDA's cache after an out-of-memory error; on the
        CPU, glibc's free heap pages after the warm-up's large batches (about 150 MB at batch 8,
        which the allocator would otherwise keep for the life of the process)."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        elif _LIBC is not None:
            _LIBC.malloc_trim(0)
