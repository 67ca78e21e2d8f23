"""The batch cap chosen from forward-pass timings (fake timings: pure logic, no model)."""

from __future__ import annotations

import math

import pytest
import torch

from app.batch_cap import choose_batch_cap, measure_batch_cap, probe_sizes


def cap_for(seconds: dict[int, float], max_batch_size: int) -> int:
    return choose_batch_cap(seconds.__getitem__, max_batch_size)[0]


def test_probe_sizes_double_up_to_the_bound() -> None:
    assert probe_sizes(1) == [1]
    assert probe_sizes(8) == [1, 2, 4, 8]
    assert probe_sizes(6) == [1, 2, 4, 6]


def test_a_cpu_like_device_gets_no_batching() -> None:
    # Per image no cheaper, or only a little, at any size: batching would only add waiting.
    assert cap_for({1: 0.09, 2: 0.18, 4: 0.34, 8: 0.70}, 8) == 1


def test_a_gpu_like_device_batches_to_the_bound() -> None:
    assert cap_for({1: 0.010, 2: 0.011, 4: 0.012, 8: 0.015}, 8) == 8


def test_the_cap_is_the_largest_size_that_is_clearly_better() -> None:
    # 4 pays, 8 no longer does (0.1 per image: as batch 1).
    assert cap_for({1: 0.1, 2: 0.16, 4: 0.24, 8: 0.8}, 8) == 4
    # 2 is better, but not clearly (0.9 of batch 1 per image).
    assert cap_for({1: 0.1, 2: 0.18}, 2) == 1


def test_a_size_that_cannot_run_is_never_chosen() -> None:
    assert cap_for({1: 0.01, 2: 0.011, 4: math.inf}, 4) == 2


def test_the_times_per_image_are_reported() -> None:
    _, per_image = choose_batch_cap({1: 0.1, 2: 0.1}.__getitem__, 2)
    assert per_image == pytest.approx({1: 0.1, 2: 0.05})


def test_measuring_times_a_forward_at_each_size() -> None:
    seen: list[int] = []

    def forward(batch: torch.Tensor) -> None:
        assert batch.shape[1:] == (3, 16, 16)
        seen.append(int(batch.shape[0]))

    cap, per_image = measure_batch_cap(forward, 16, 4)
    assert sorted(set(seen)) == [1, 2, 4]
    assert list(per_image) == [1, 2, 4]
    assert 1 <= cap <= 4


def test_out_of_memory_counts_as_never_better() -> None:
    def forward(batch: torch.Tensor) -> None:
        if batch.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("injected")

    _, per_image = measure_batch_cap(forward, 8, 4)
    assert per_image[4] == math.inf
