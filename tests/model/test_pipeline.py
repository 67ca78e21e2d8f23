"""prepare / predict / apply: exact where a photo is not downscaled, the same whatever the strip
size, a curve applied exactly as a table, and a fill that stays between the curve's top and 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import model.pipeline
from model import EvChoice, Prediction, apply, choose_ev, correct_images, predict, prepare
from model.layers import mirror_pad
from model.pipeline import _apply_dense
from tests.conftest import tiny_estimator, tiny_generator

K = 32


def straight(top: float) -> torch.Tensor:
    """Knots of the straight curve from 0 to `top`: the trivial inverse with gain `top`."""
    return torch.linspace(0.0, top, K + 1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (37, 61), (5, 64), (64, 64)])
def test_identity_curve_returns_the_photo_exactly(dtype: type, height: int, width: int) -> None:
    rng = np.random.default_rng(0)
    image: np.ndarray = rng.integers(0, np.iinfo(dtype).max + 1, (height, width, 3)).astype(dtype)
    canvas = prepare(image, 64)
    assert canvas.tensor.shape == (3, 64, 64) and not canvas.downscaled
    # A curve ending at 1 leaves no headroom for a fill: the identity, whatever the fill says.
    identity = Prediction(0.0, "estimate", straight(1.0), torch.rand(6, 64, 64))
    assert np.array_equal(apply(image, canvas, identity), image)


def test_strip_size_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = tiny_generator()
    image = np.random.default_rng(1).integers(0, 256, (150, 97, 3)).astype(np.uint8)
    canvas = prepare(image, 64)
    assert canvas.downscaled
    (prediction,) = predict(generator, canvas.tensor[None], [2.0])
    monkeypatch.setattr(model.pipeline, "STRIP_PIXELS", 1 << 24)
    whole = apply(image, canvas, prediction)
    monkeypatch.setattr(model.pipeline, "STRIP_PIXELS", 200)
    strips = apply(image, canvas, prediction)
    assert np.array_equal(whole, strips)


@pytest.mark.parametrize(("height", "width"), [(40, 50), (300, 170)])
def test_unclipped_values_follow_the_curve_and_clipped_ones_get_a_fill(
    height: int, width: int
) -> None:
    """At any size, values below the clip mask are exactly the curve's (here a bent one);
    clipped values land between the curve's top and 1, as clipping implies."""
    rng = np.random.default_rng(2)
    image = rng.integers(0, 240, (height, width, 3)).astype(np.uint8)
    image[: height // 3] = 255  # a clipped sky
    canvas = prepare(image, 64)
    top = 0.7
    knots = top * torch.linspace(0.0, 1.0, K + 1) ** 1.5
    prediction = Prediction(1.0, "client", knots, torch.rand(6, 64, 64))
    out = apply(image, canvas, prediction).astype(np.float64)
    unclipped = image < 240
    x = image.astype(np.float64) / 255.0
    expected = np.round(np.interp(x, np.linspace(0, 1, K + 1), knots.double().numpy()) * 255)
    assert np.abs(out[unclipped] - expected[unclipped]).max() <= 1
    clipped = out[image == 255]
    assert clipped.min() >= np.floor(top * 255) and clipped.max() <= 255
    assert clipped.std() > 1  # the fill map, not one flat value


def test_where_every_channel_clipped_only_the_surroundings_fill_counts() -> None:
    """A pixel with nothing recorded of its colour takes the fill spread from its surroundings
    (the first three channels), whatever the per-channel fills (the last three) say."""
    image = np.full((48, 48, 3), 255, np.uint8)
    image[:, :16] = (200, 150, 120)  # a warm, unclipped area beside the clipped one
    canvas = prepare(image, 64)
    fills = torch.rand(6, 64, 64)
    fills[:3] = 0.4  # the surroundings say: neutral, 40% of the headroom
    out = apply(image, canvas, Prediction(1.0, "client", straight(0.7), fills))
    white = out[:, 16:].astype(int)
    assert (white.max(axis=2) - white.min(axis=2)).max() == 0
    assert white.min() == round((0.7 + 0.3 * 0.4) * 255)


def test_predict_is_told_every_ev_and_says_where_it_came_from() -> None:
    generator = tiny_generator()
    batch = torch.rand(3, 3, 64, 64)
    given, estimated, zero = predict(
        generator, batch, [1.25, 0.7, 0.0], ["client", "estimate", "client"]
    )
    assert (given.ev, given.ev_source) == (1.25, "client")
    assert (estimated.ev, estimated.ev_source) == (0.7, "estimate")
    assert float(zero.knots[-1]) == pytest.approx(1.0, abs=1e-5)  # EV 0: the identity curve
    for p in (given, estimated, zero):
        assert p.knots[0] == 0 and bool((p.knots.diff() >= 0).all())
    with pytest.raises(ValueError, match="EVs"):
        predict(generator, batch, [1.0])
    with pytest.raises(ValueError, match="choose_ev"):
        predict(generator, batch[:1], [None])  # type: ignore[list-item]


def test_choose_ev_takes_the_clients_else_the_estimators() -> None:
    canvas = prepare(np.zeros((20, 30, 3), np.uint8), 64)
    estimator = tiny_estimator(1.3)
    assert choose_ev(estimator, canvas, 0.5) == EvChoice(0.5, "client")
    assert choose_ev(estimator, canvas, None) == EvChoice(1.3, "estimate")
    with pytest.raises(ValueError, match="estimator"):
        choose_ev(None, canvas, None)


def test_correct_images_keeps_sizes() -> None:
    images = [np.zeros((h, w, 3), np.uint8) for h, w in [(1, 1), (130, 70), (5, 300)]]
    out = correct_images(
        tiny_generator(), images, evs=[None, 0.5, 2.0], batch_size=2, estimator=tiny_estimator()
    )
    assert [o.shape for o in out] == [i.shape for i in images]


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_the_full_size_path_gives_the_generators_own_output(dtype: type) -> None:
    """A photo of exactly the working size: prepare / predict / apply is the generator's
    composed output, the same formula applied through the same padding."""
    generator = tiny_generator()
    rng = np.random.default_rng(3)
    image = (rng.random((64, 64, 3)) * 1.3).clip(0.0, 1.0).astype(np.float32)
    if dtype == np.uint8:
        image = np.round(image * 255.0).astype(np.uint8)
    canvas = prepare(image, 64)
    (prediction,) = predict(generator, canvas.tensor[None], [1.5])
    with torch.no_grad():
        own = generator(canvas.tensor[None], torch.tensor([1.5]))[0].permute(1, 2, 0).numpy()
    result = apply(image, canvas, prediction)
    if dtype == np.uint8:
        assert np.array_equal(result, np.round(own * 255.0).astype(np.uint8))
    else:
        np.testing.assert_allclose(result, own, rtol=0, atol=1e-6)


def test_mirror_padding_is_one_mirror_where_one_is_enough_and_repeats_beyond() -> None:
    x = torch.arange(12.0).view(1, 1, 3, 4)
    once = mirror_pad(x, 5, 6)
    assert torch.equal(once, torch.nn.functional.pad(x, (0, 2, 0, 2), mode="reflect"))
    assert torch.equal(mirror_pad(x[0], 5, 6), once[0])  # (C, H, W) as well
    wide = mirror_pad(x, 3, 10)[0, 0, 0].tolist()
    assert wide == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert torch.equal(mirror_pad(x[..., :1, :], 4, 4), x[..., :1, :].expand(1, 1, 4, 4))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("clipped", [0.0, 0.02, 0.6])
def test_apply_equals_composing_every_value(dtype: type, clipped: float) -> None:
    """The sparse path (a table for unmasked values, compose for the rest) gives exactly what
    composing every value gives, for photos with few, some and many clipped values."""
    rng = np.random.default_rng(7)
    top = np.iinfo(dtype).max
    image: np.ndarray = rng.integers(0, int(top * 0.9), (203, 317, 3)).astype(dtype)
    hot = rng.random((203, 317)) < clipped
    image[hot] = np.minimum(top, image[hot] + int(top * 0.3)).astype(dtype)
    image[hot, rng.integers(0, 3)] = top  # a channel clipped where it is hot
    generator = torch.Generator().manual_seed(1)
    knots = torch.sort(torch.rand(33, generator=generator))[0]
    knots[0] = 0.0
    fills = torch.rand(6, 64, 64, generator=generator)
    canvas = prepare(image, 64)
    prediction = Prediction(1.0, "client", knots, fills)
    assert np.array_equal(apply(image, canvas, prediction), _apply_dense(image, canvas, prediction))


@pytest.mark.parametrize("size", [(517, 776), (1000, 37), (37, 1000), (513, 514), (3000, 2000)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_downscaling_is_adaptive_average_pooling(size: tuple[int, int], dtype: type) -> None:
    # The canvas pools in strips with gathers; its definition is torch's adaptive pooling.
    rng = np.random.default_rng(5)
    image = rng.integers(0, np.iinfo(dtype).max, (*size, 3), dtype=dtype, endpoint=True)
    canvas = prepare(image, 512)
    full = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]
    want = F.adaptive_avg_pool2d(full, (canvas.low_height, canvas.low_width))[0]
    got = canvas.tensor[:, : canvas.low_height, : canvas.low_width].double()
    assert canvas.downscaled
    assert torch.allclose(got, want / np.iinfo(dtype).max, atol=1e-6)
