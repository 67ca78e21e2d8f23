"""The training package on tiny generated data: losses, resume, checkpoints, the data pipeline."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from model import camera_overexpose_uint8, correct_images, load_generator
from model.generator import THUMBNAIL
from training.config import PRESETS
from training.data import ExposureDataset, load_brackets
from training.degrade import CameraSampler, overexpose_camera, srgb_curve
from training.discriminator import PatchDiscriminator
from training.losses import (
    MultiScaleSSIMLoss,
    PerceptualLoss,
    build_perceptual_loss,
    vgg19_features,
)
from training.photos import find_photos
from training.real_curves import RealCurve
from training.train import build_config, main, parse_args
from training.trainer import Trainer


@pytest.fixture()
def photo_dir(tmp_path: Path) -> Path:
    """A folder of smooth random photos, one in a subfolder, plus a broken file."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(4):
        low = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        img = Image.fromarray(low).resize((80, 60), Image.Resampling.BICUBIC)
        img.save(root / ("sub" if i == 0 else ".") / f"p{i}.png")
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def test_find_photos_is_recursive(photo_dir: Path) -> None:
    names = {p.name for p in find_photos(photo_dir)}
    assert names == {"p0.png", "p1.png", "p2.png", "p3.png", "broken.jpg"}


def test_dataset_skips_broken_files_and_makes_camera_like_samples(
    photo_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sampler = CameraSampler(zero_ev_prob=0.0, jpeg_prob=0.0, downscale_prob=0.0)
    ds = ExposureDataset([photo_dir], crop=32, sampler=sampler, working_size=64)
    assert len(ds.photos) == 4
    assert "broken.jpg" in caplog.text
    for index in range(8):
        y, x, ev, thumb = ds[index]
        # The exposure head's view: the whole overexposed photo, as the service makes it.
        assert thumb.shape == (3, THUMBNAIL, THUMBNAIL)
        assert float(thumb.min()) >= 0.0 and float(thumb.max()) <= 1.0
        assert y.shape == x.shape == (3, 32, 32)
        assert 0.0 < float(ev) <= sampler.max_ev
        # Brighter (or clipped) wherever the target is, never darker: overexposure.
        assert bool((y >= x - 1 / 255).all())


def test_zero_ev_samples_are_left_as_they_were(photo_dir: Path) -> None:
    sampler = CameraSampler(zero_ev_prob=1.0, jpeg_prob=0.0, white_balance=0.0)
    ds = ExposureDataset([photo_dir], crop=32, sampler=sampler, working_size=64)
    y, x, ev, _ = ds[0]
    assert float(ev) == 0.0
    assert (y - x).abs().max() <= 1.5 / 255  # only the curve's round trip


def test_real_camera_responses_overexpose_photos_that_are_their_own_targets(
    photo_dir: Path,
) -> None:
    lifted = np.minimum(255, np.arange(256) * 2).astype(np.uint8)  # a stop up, then clipped
    response = RealCurve("pair", 1.0, lifted)
    sampler = CameraSampler(jpeg_prob=0.0, downscale_prob=0.0)
    ds = ExposureDataset(
        [photo_dir],
        crop=32,
        sampler=sampler,
        working_size=64,
        responses=[response],
        response_prob=1.0,
        response_shift=(0.0, 0.0),
    )
    for index in range(4):
        y, x, ev, _ = ds[index]
        assert float(ev) == 1.0
        # The overexposed crop is the response applied to the target crop, value by value.
        codes = torch.round(x * 255).long()
        assert torch.equal(y, torch.from_numpy(lifted.astype(np.float32))[codes] / 255.0)


def test_camera_curves_are_monotone_and_invertible() -> None:
    rng = random.Random(0)
    values = np.linspace(0.0, 1.0, 256)
    for _ in range(30):
        curve = CameraSampler().draw_curve(rng)
        encoded = curve.encode(values)
        assert encoded[0] == pytest.approx(0.0) and encoded[-1] == pytest.approx(1.0)
        assert bool((np.diff(encoded) >= 0).all())
        assert np.abs(curve.decode(encoded) - values).max() < 2e-3


def test_spec_camera_model_is_one_member_of_the_family() -> None:
    photo = np.random.default_rng(3).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    exposed, target = overexpose_camera(photo, 1.0, srgb_curve(), np.ones(3))
    assert np.array_equal(target, photo)
    assert np.abs(exposed.astype(int) - camera_overexpose_uint8(photo, 1.0)).max() <= 1


def test_brackets_pair_by_name_with_evs_from_the_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    for name in ("a", "b"):
        target = rng.integers(20, 120, (24, 32, 3)).astype(np.uint8)
        exposed = camera_overexpose_uint8(target, 1.5)
        for folder, image in (("input", exposed), ("target", target)):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(image).save(tmp_path / folder / f"{name}.png")
    (tmp_path / "input" / "lonely.png").write_bytes((tmp_path / "input" / "a.png").read_bytes())
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("name,ev\na,1.25\n")
    pairs = load_brackets(tmp_path, csv_path, working_size=64)
    assert pairs[0].ev == 1.25  # from the CSV
    assert pairs[1].ev == pytest.approx(1.5, abs=0.1)  # estimated from the frames
    assert len(pairs) == 2


def test_data_mix_flags_reach_the_config() -> None:
    base = ["--data", "d", "e", "--out", "o"]
    args = parse_args([*base, "--bracket-prob", "0.3", "--zero-ev-prob", "0.4"])
    config = build_config(args)
    assert args.data == ["d", "e"]
    assert (config.bracket_prob, config.camera.zero_ev_prob) == (0.3, 0.4)
    # The other camera settings keep the one set of defaults.
    assert config.camera == CameraSampler(zero_ev_prob=0.4)
    assert PRESETS["default"].camera == CameraSampler()


def test_generator_flags_reach_the_config() -> None:
    base = ["--data", "d", "--out", "o"]
    plain = build_config(parse_args(base)).generator
    assert not plain.spectral_norm and plain.fill_luma_range is None
    flags = ["--spectral-norm", "--reflect-padding", "--no-noise", "--fill-luma-range", "4"]
    config = build_config(parse_args([*base, *flags]))
    assert config.generator.spectral_norm and not config.generator.noise
    assert config.generator.padding == "reflect"
    assert config.generator.fill_luma_range == 4.0


def test_one_step_runs_the_generator_once_and_never_trains_d_in_the_g_phase() -> None:
    trainer = Trainer(PRESETS["tiny"], build_perceptual_loss(None), torch.device("cpu"))
    calls = {"g": 0, "d_grads_in_g_phase": 0}
    core = trainer.core
    original = core.predict

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["g"] += 1
        return original(*args, **kwargs)

    core.predict = counted  # type: ignore[method-assign]
    d_params = list(trainer.discriminator.parameters())
    d_step = trainer.opt_d.step

    def d_step_then_watch(*args: Any, **kwargs: Any) -> Any:
        result = d_step(*args, **kwargs)
        for p in d_params:
            p.grad = None  # anything D accumulates from here on comes from the G phase
        return result

    trainer.opt_d.step = d_step_then_watch  # type: ignore[method-assign]
    batch = (
        torch.rand(2, 3, 32, 32),
        torch.rand(2, 3, 32, 32),
        torch.rand(2),
        torch.rand(2, 3, 128, 128),
    )
    losses = trainer.step(batch)
    assert calls["g"] == 1
    assert all(p.grad is None for p in d_params)
    assert all(p.requires_grad for p in trainer.core.parameters())
    assert {"d", "g_adv", "l1", "perc", "ev", "fill_pinned"} <= set(losses)


def test_each_step_reports_how_much_of_the_fill_is_pinned() -> None:
    trainer = Trainer(PRESETS["tiny"], build_perceptual_loss(None), torch.device("cpu"))
    torch.manual_seed(0)
    # R clipped, G and B recorded: every pixel is partially clipped.
    inp = torch.stack([torch.ones(32, 32), torch.full((32, 32), 0.6), torch.full((32, 32), 0.5)])
    batch = (
        inp.expand(2, -1, -1, -1),
        torch.rand(2, 3, 32, 32),
        torch.ones(2),
        torch.rand(2, 3, 128, 128),
    )
    # A new generator fills with the physical estimates, kept inside (0.02, 0.98).
    assert float(trainer.step(batch)["fill_pinned"]) == 0.0
    bias = trainer.core.to_fill.bias
    assert bias is not None
    with torch.no_grad():
        bias[0] = -1e4  # the luminance logit an exploded U-Net gives
    assert float(trainer.step(batch)["fill_pinned"]) == 1.0


@pytest.mark.parametrize("given", [0.0, 1.0])
def test_the_fill_learns_only_from_samples_told_their_ev(given: float) -> None:
    """A blind sample's error is mostly its estimate's; the U-Net must not learn to make up
    for it (it would darken every clipped area), so only told samples reach it."""
    config = dataclasses.replace(PRESETS["tiny"], ev_given_prob=given)
    trainer = Trainer(config, build_perceptual_loss(None), torch.device("cpu"))
    torch.manual_seed(0)
    inp = torch.rand(2, 3, 32, 32) * 0.2 + 0.85  # many values above the fill's mask start
    batch = (inp, torch.rand(2, 3, 32, 32), torch.tensor([1.0, 1.5]), torch.rand(2, 3, 128, 128))
    trainer.step(batch)
    params = dict(trainer.core.named_parameters())
    touched = {n for n, p in params.items() if p.grad is not None and bool(p.grad.abs().sum())}
    unet = {n for n in params if not n.startswith("exposure.")}
    if given:
        # A new U-Net's output layer starts at zero: on the first step only it has gradients.
        assert {"to_fill.weight", "to_fill.bias"} <= touched
    else:
        assert not touched & unet
    assert "exposure.to_ev.weight" in touched  # the estimate learns from every sample


def test_discriminator_field_of_view_is_142() -> None:
    d = PatchDiscriminator(channels=4, n_layers=4)
    assert d.receptive_field() == 142
    scores = d(torch.rand(1, 3, 256, 256), torch.rand(1, 3, 256, 256))
    assert scores.shape == (1, 1, 14, 14)


def test_perceptual_loss_loads_vgg19_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg19_features().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # full torchvision files carry these too
    for path in (tmp_path / "vgg.pth", tmp_path / "vgg.safetensors"):
        if path.suffix == ".pth":
            torch.save(state, path)
        else:
            save_file(state, str(path))
        loss = build_perceptual_loss(path)
        assert isinstance(loss, PerceptualLoss)
        a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
        assert loss(a, a).item() == 0.0
        assert loss(a, b).item() > 0.0


def test_perceptual_loss_rejects_incomplete_weights(tmp_path: Path) -> None:
    path = tmp_path / "partial.safetensors"
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(path))
    with pytest.raises(ValueError, match="lacks VGG-19 weights"):
        PerceptualLoss(path)


def test_without_vgg_weights_a_logged_ssim_loss_is_used(caplog: pytest.LogCaptureFixture) -> None:
    loss = build_perceptual_loss(None)
    assert isinstance(loss, MultiScaleSSIMLoss)
    assert "no VGG-19 weights" in caplog.text
    a = torch.rand(2, 3, 48, 48)
    assert loss(a, a).item() == pytest.approx(0.0, abs=1e-5)
    assert loss(a, torch.rand(2, 3, 48, 48)).item() > 0.1


def test_tiny_run_trains_resumes_and_writes_a_servable_checkpoint(
    photo_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["--data", str(photo_dir), "--out", str(out), "--preset", "tiny", "--threads", "1"]
    assert main([*args, "--steps", "2"]) == 0
    first, info = load_generator(out / "generator.safetensors")
    assert info.metadata["step"] == 2
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(math.isfinite(v) for r in records for v in r.values())
    assert (out / "samples" / "step000002.png").is_file()

    # Resume: the run continues from step 2, not from scratch.
    assert main([*args, "--steps", "4"]) == 0
    second, info = load_generator(out / "generator.safetensors")
    assert info.metadata["step"] == 4
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    changed = [
        not torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    ]
    assert any(changed)

    # The saved EMA generator corrects a photo through the same path as the service.
    photo = np.asarray(Image.open(photo_dir / "p1.png").convert("RGB"))
    (corrected,) = correct_images(second, [photo], evs=[1.0])
    assert corrected.shape == photo.shape and corrected.dtype == np.uint8


def test_init_copies_another_runs_weights_except_skipped_prefixes(
    photo_dir: Path, tmp_path: Path
) -> None:
    base = ["--data", str(photo_dir), "--preset", "tiny", "--threads", "1", "--steps", "2"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    state = tmp_path / "a" / "state.pt"
    source = torch.load(state, weights_only=True)
    trainer = Trainer(PRESETS["tiny"], build_perceptual_loss(None), torch.device("cpu"))
    trainer.init_from(state, skip=("exposure.",))
    for name, tensor in trainer.core.state_dict().items():
        if name == "exposure.to_ev.weight":
            # Trained anew: the head's EV layer keeps its zero initialisation.
            assert not torch.any(tensor), name
        elif not name.startswith("exposure."):
            assert torch.equal(tensor, source["generator"][name]), name
    for name, tensor in trainer.discriminator.state_dict().items():
        assert torch.equal(tensor, source["discriminator"][name]), name


def test_frozen_tensors_stay_as_they_were_while_the_rest_trains(
    photo_dir: Path, tmp_path: Path, checkpoint: Path
) -> None:
    """`--freeze exposure.` trains the fill against a settled curve: the head is untouched."""
    args = ["--data", str(photo_dir), "--preset", "tiny", "--threads", "1", "--steps", "3"]
    args += ["--out", str(tmp_path / "run"), "--init", str(checkpoint), "--freeze", "exposure."]
    assert main(args) == 0
    before, _ = load_generator(checkpoint)
    after, _ = load_generator(tmp_path / "run" / "generator.safetensors")
    head_same = moved = 0
    for (name, a), b in zip(before.state_dict().items(), after.state_dict().values(), strict=True):
        if name.startswith("exposure."):
            assert torch.equal(a, b), name
            head_same += 1
        else:
            moved += not torch.equal(a, b)
    assert head_same > 0 and moved > 0
    with pytest.raises(ValueError, match="no generator tensor"):
        Trainer(PRESETS["tiny"], build_perceptual_loss(None), torch.device("cpu")).freeze(
            ("nothing.",)
        )
