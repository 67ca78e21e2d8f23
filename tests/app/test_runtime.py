"""A Runtime places the generator once and runs it the same way for the service and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from app import runtime as runtime_module
from app.runtime import Runtime
from model import predict
from tests.conftest import TINY, tiny_generator


def test_place_sets_channels_last_on_the_cpu_and_keeps_the_outputs() -> None:
    generator = tiny_generator()
    canvases = torch.rand(2, 3, TINY.working_size, TINY.working_size)
    expected = predict(generator, canvases, [0.5, 1.0])
    runtime = Runtime(torch.device("cpu"))
    placed = runtime.place(generator)
    weights = [p for p in placed.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    for got, want in zip(runtime.predict(placed, canvases, [0.5, 1.0]), expected, strict=True):
        assert got.ev_source == want.ev_source
        assert torch.allclose(got.fills, want.fills, atol=1e-5)
        assert torch.allclose(got.knots, want.knots, atol=1e-5)


def test_cpu_runs_in_float32() -> None:
    assert Runtime(torch.device("cpu"), "bf16").amp_dtype is None


STATM = Path("/proc/self/statm")


def rss() -> int:
    """This process's resident memory in bytes (Linux)."""
    return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_free_memory_on_the_cpu_returns_the_freed_heap_to_the_system() -> None:
    if runtime_module._LIBC is None or not STATM.exists():
        pytest.skip("not Linux with glibc: nothing to trim")
    # Many small arrays (heap, not mmap), 9 in 10 freed: holes the allocator keeps mapped.
    arrays = [np.ones(100_000 // 8) for _ in range(3000)]
    kept = arrays[::10]
    del arrays
    before = rss()
    Runtime(torch.device("cpu")).free_memory()
    after = rss()
    assert before - after > 100 * 2**20, (before, after)
    assert len(kept) == 300
