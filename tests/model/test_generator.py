"""The generator on odd sizes, deterministic in eval mode, independent of its batch, and the
identity when it starts."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from model import Generator
from model.config import GeneratorConfig
from model.generator import input_statistics, without_spectral_norm
from model.tone import base_knots
from tests.conftest import TINY, tiny_generator


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


def test_a_new_generator_leaves_photos_nearly_as_they_were() -> None:
    """Training starts from "not overexposed": a straight curve ending just below 1."""
    generator = Generator(TINY).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out, info = generator.correct(x)
    assert (out - x).abs().max() < 0.01
    assert bool((info.knots.diff(dim=1) > 0).all())


def test_the_clients_ev_moves_the_curve_and_is_reported() -> None:
    generator = tiny_generator()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = generator.predict(x, torch.tensor([math.nan, 0.5]))
    assert float(out.ev[1]) == 0.5
    assert float(out.ev[0]) == float(out.ev_estimate[0])
    assert float(out.ev_estimate.min()) >= 0.0 and float(out.ev_estimate.max()) <= 4.0


def test_told_ev_0_returns_the_photo_whatever_the_curve_residual_says() -> None:
    """A good photo is left alone: the learned residual fades in with the EV, so at EV 0 the
    curve is the identity and nothing is filled, even from a head that bends every curve."""
    generator = tiny_generator()
    last = generator.exposure.to_curve[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        last.bias.normal_(0.0, 1.0)
    x = torch.rand(2, 3, 64, 64)
    x[0, :, :8] = 1.0  # clipped values too
    with torch.no_grad():
        still, info = generator.correct(x, torch.tensor([0.0, 0.0]))
        bent = generator.predict(x, torch.tensor([1.0, 1.0])).knots
    assert torch.allclose(
        info.knots, torch.linspace(0, 1, TINY.curve_knots + 1).expand(2, -1), atol=1e-5
    )
    assert (still - x).abs().max() < 1e-5
    base = base_knots(torch.tensor([1.0]), TINY.curve_knots)[0]
    assert (bent[0] - base).abs().max() > 0.02  # the residual does act at 1 EV


def test_input_histogram_is_a_triangular_kernel_around_each_bin_centre() -> None:
    bins = 32
    x = torch.rand(2, 3, 24, 24)
    x[:, :, :4] = 1.0
    x[:, :, 4:8] = 0.0
    centres = (torch.arange(bins) + 0.5) / bins
    weights = (1.0 - (x.flatten(2)[..., None] - centres).abs() * bins).clamp(min=0.0)
    direct = weights.mean(dim=2).flatten(1)
    stats = input_statistics(x)
    assert torch.allclose(stats[:, : 3 * bins], direct, atol=1e-6)
    assert torch.allclose(stats[:, 3 * bins :], (x >= 254.5 / 255).float().mean(dim=(2, 3)))


def test_a_spectrally_normalised_generator_folds_into_the_same_plain_one() -> None:
    torch.manual_seed(0)
    generator = Generator(replace(TINY, spectral_norm=True))
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for _ in range(3):  # training-mode passes move the power-iteration vectors
            generator.train()(x)
    generator.eval()
    plain = without_spectral_norm(generator)
    assert not plain.config.spectral_norm and not plain.training
    assert not any(".parametrizations." in name for name in plain.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(plain(x), generator(x), atol=1e-5, rtol=1e-5)
    assert without_spectral_norm(plain) is plain


def test_reflect_padding_keeps_a_convolution_at_the_edge_from_seeing_a_black_frame() -> None:
    config = replace(TINY, padding="reflect")
    assert GeneratorConfig.from_json(config.to_json()) == config
    # Checkpoints from before the option have no such key: they pad with zeros, as trained.
    old = json.loads(TINY.to_json())
    del old["padding"]
    assert GeneratorConfig.from_json(json.dumps(old)).padding == "zeros"
    with pytest.raises(ValueError, match="padding"):
        replace(TINY, padding="circular")  # type: ignore[arg-type]
    torch.manual_seed(0)
    generator = Generator(config).eval()
    flat = torch.full((1, 3, 64, 64), 0.5)
    conv = generator.downs[0].conv
    assert isinstance(conv, torch.nn.Conv2d)
    with torch.no_grad():
        first = conv(flat * 2.0 - 1.0)
    # A flat picture gives a flat response, up to its very edge.
    torch.testing.assert_close(first, first[..., 5:6, 5:6].expand_as(first))


def test_the_fill_bound_is_saved_with_the_config_and_old_checkpoints_stay_free() -> None:
    config = replace(TINY, fill_luma_range=4.0)
    assert GeneratorConfig.from_json(config.to_json()) == config
    old = json.loads(TINY.to_json())
    del old["fill_luma_range"]
    assert GeneratorConfig.from_json(json.dumps(old)).fill_luma_range is None
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="fill_luma_range"):
            replace(TINY, fill_luma_range=bad)
    generator = Generator(config).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        generator.to_fill.bias.fill_(-1e4)  # type: ignore[union-attr]
        x = torch.rand(1, 3, 32, 32)
        x[..., :8, :] = 1.0
        x[:, 0, 8:16, :] = 1.0  # only red clipped there
        fills = generator.predict(x, torch.ones(1)).fills
    partial = fills[:, 3:, 8:16][:, 0]
    assert float(partial.min()) > 0.0  # bounded: not pinned to the curve's top
