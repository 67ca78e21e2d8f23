"""The generator as the service's worker runs it on the CPU, for benchmarks outside the service:
the checkpoint loaded in eval mode, weights and canvases in channels_last (oneDNN's convolutions
then skip their layout reorders), a chosen number of torch threads."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model import Generator, load_generator


def load_cpu_generator(checkpoint: str | Path, threads: int | None = None) -> Generator:
    """The generator on the CPU, its 4-d weights in channels_last; `threads` torch threads."""
    if threads:
        torch.set_num_threads(threads)
    generator = load_generator(checkpoint, torch.device("cpu"))[0]
    for param in generator.parameters():
        if param.dim() == 4:
            param.data = param.data.contiguous(memory_format=torch.channels_last)
    return generator


def as_canvases(batch: torch.Tensor) -> torch.Tensor:
    """Stacked canvases in the generator's memory format."""
    return batch.contiguous(memory_format=torch.channels_last)
