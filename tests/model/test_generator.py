"""The generator on odd sizes, deterministic in eval mode and independent of its batch."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import tiny_generator


@pytest.mark.parametrize(("height", "width"), [(1, 1), (37, 61), (5, 300), (64, 64)])
def test_odd_sizes_keep_their_shape_and_range(height: int, width: int) -> None:
    out = tiny_generator()(torch.rand(2, 3, height, width))
    assert out.shape == (2, 3, height, width)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_eval_mode_is_deterministic_and_independent_of_the_batch() -> None:
    generator = tiny_generator()
    torch.manual_seed(1)
    images = torch.rand(4, 3, 64, 64)
    alone = torch.cat([generator(images[i : i + 1]) for i in range(4)])
    together = generator(images)
    assert torch.allclose(alone, together, atol=1e-6)
    assert torch.equal(generator(images), together)


def test_training_mode_noise_varies() -> None:
    generator = tiny_generator().train()
    x = torch.rand(1, 3, 32, 32)
    assert not torch.equal(generator(x), generator(x))
