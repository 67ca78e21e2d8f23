"""The training package on tiny generated data: losses, resume, checkpoints, the data pipeline."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from model import correct_images, load_generator, overexpose_uint8
from model.generator import THUMBNAIL
from training.config import PRESETS
from training.data import ExposureSampler, OverexposureDataset
from training.discriminator import PatchDiscriminator
from training.losses import (
    MultiScaleSSIMLoss,
    PerceptualLoss,
    build_perceptual_loss,
    vgg19_features,
)
from training.photos import find_photos
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


def test_dataset_skips_broken_files_and_overexposes_as_spec(
    photo_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sampler = ExposureSampler(tau_min=0.5, tau_max=0.5, identity_prob=0.0)
    ds = OverexposureDataset(photo_dir, crop=32, sampler=sampler, max_side=64, working_size=64)
    assert len(ds.photos) == 4
    assert "broken.jpg" in caplog.text
    y, x, log_gain, thumb = ds[0]
    # The exposure estimator's view: the whole overexposed photo, as the service makes it.
    assert thumb.shape == (3, THUMBNAIL, THUMBNAIL)
    assert float(thumb.max()) == 1.0 and float(thumb.min()) >= 0.0
    assert y.shape == x.shape == (3, 32, 32)
    x8 = np.round(x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    expected = overexpose_uint8(x8, 0.5, 1 / 2.2)
    got = np.round(y.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert float(log_gain) == pytest.approx(math.log(0.5) / 2.2)


def test_sampler_range_and_identity() -> None:
    rng = random.Random(1)
    sampler = ExposureSampler(tau_min=0.3, tau_max=0.9, identity_prob=0.25)
    taus = [sampler.draw(rng) for _ in range(2000)]
    assert all(0.3 <= t <= 0.9 or t == 1.0 for t in taus)
    assert 0.2 < sum(t == 1.0 for t in taus) / len(taus) < 0.3
    mixed = ExposureSampler(tau_min=0.3, tau_max=0.9, identity_prob=0.1, mode_prob=0.5)
    draws = [mixed.draw(rng) for _ in range(2000)]
    assert 0.45 < sum(t == 0.5 for t in draws) / len(draws) < 0.55
    with pytest.raises(ValueError):
        ExposureSampler(tau_min=0.0)


def test_exposure_prior_flags_reach_the_config() -> None:
    base = ["--data", "d", "--out", "o"]
    config = build_config(
        parse_args([*base, "--tau-mode-prob", "0.2", "--tau-range", "0.3", "0.9"])
    )
    assert (config.tau_mode_prob, config.tau_min, config.tau_max) == (0.2, 0.3, 0.9)
    fixed = build_config(parse_args([*base, "--tau", "0.5"]))
    assert (fixed.tau_min, fixed.tau_max, fixed.tau_mode_prob, fixed.identity_prob) == (
        0.5,
        0.5,
        0.0,
        0.0,
    )


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
    (corrected,) = correct_images(second, [photo])
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
        if name.startswith("exposure.head.2"):
            # Trained anew: the estimator's last layer keeps its zero initialisation.
            assert not torch.any(tensor), name
        elif not name.startswith("exposure."):
            assert torch.equal(tensor, source["generator"][name]), name
    for name, tensor in trainer.discriminator.state_dict().items():
        assert torch.equal(tensor, source["discriminator"][name]), name
