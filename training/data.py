"""Training pairs from any folder of photos: random crops, flips, and simulated overexposure."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from model import DEFAULT_GAMMA, overexpose, overexpose_uint8, to_canvas
from model.generator import thumbnail
from training.photos import find_photos, load_photo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExposureSampler:
    """How overexposure is drawn: a mixture of no change, a common setting, and a range.

    `identity_prob` of the samples are left as they were (tau = 1), so that the model learns
    to leave a correctly exposed photo alone; `mode_prob` get `mode_tau` (SPEC's default,
    +1 EV), the rest are log-uniform in [tau_min, tau_max] (uniform in stops of exposure).
    How overexposed a photo is cannot always be told from the photo alone (a bright scene
    looks like an overexposed dim one); the estimate of such ambiguous photos falls back on
    this prior, so the prior is kept symmetric in stops around the mode: a lopsided range
    biases every estimate towards its heavier side.
    """

    tau_min: float = 0.3
    tau_max: float = 0.95
    identity_prob: float = 0.1
    mode_tau: float = 0.5
    mode_prob: float = 0.0
    gamma: float = DEFAULT_GAMMA

    def __post_init__(self) -> None:
        if not 0.0 < self.tau_min <= self.tau_max <= 1.0:
            raise ValueError("need 0 < tau_min <= tau_max <= 1")
        if not 0.0 < self.mode_tau <= 1.0 or self.identity_prob + self.mode_prob > 1.0:
            raise ValueError("need 0 < mode_tau <= 1 and identity_prob + mode_prob <= 1")

    def draw(self, rng: random.Random) -> float:
        r = rng.random()
        if r < self.identity_prob:
            return 1.0
        if r < self.identity_prob + self.mode_prob:
            return self.mode_tau
        return math.exp(rng.uniform(math.log(self.tau_min), math.log(self.tau_max)))


class OverexposureDataset(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]):
    """(overexposed crop, ground-truth crop, log-gain target, thumbnail of the whole overexposed
    photo), made on the fly from photos in memory.

    The thumbnail is made exactly as the service makes it (canvas at `working_size`, then
    `model.generator.thumbnail`), so the exposure estimator learns from the whole picture, as it
    sees it in service, while the U-Net trains on crops.
    """

    def __init__(
        self,
        root: str | Path,
        crop: int,
        sampler: ExposureSampler,
        max_side: int = 512,
        samples_per_epoch: int | None = None,
        seed: int = 0,
        working_size: int = 512,
    ) -> None:
        paths = find_photos(root)
        loaded = [load_photo(p, max_side=max_side) for p in paths]
        self.photos = [p for p in loaded if p is not None]
        if not self.photos:
            raise ValueError(f"no readable photos in {root}")
        self.crop = crop
        self.working_size = working_size
        self.sampler = sampler
        self.length = samples_per_epoch or len(self.photos)
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(
        self, index: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        photo = self.photos[self.rng.randrange(len(self.photos))]
        x = torch.from_numpy(self._random_crop(photo)).permute(2, 0, 1).float() / 255.0
        tau = self.sampler.draw(self.rng)
        # Quantise like a real 8-bit upload, exactly as SPEC section 1 does.
        y = torch.round(overexpose(x, tau, self.sampler.gamma) * 255.0) / 255.0
        whole = overexpose_uint8(self._random_window(photo), tau, self.sampler.gamma)
        thumb = thumbnail(to_canvas(whole, self.working_size, read_trace=False).tensor[None])[0]
        if self.rng.random() < 0.5:
            x, y, thumb = x.flip(-1), y.flip(-1), thumb.flip(-1)
        log_gain = torch.tensor(self.sampler.gamma * math.log(tau))
        return y, x, log_gain, thumb

    def _random_window(self, photo: np.ndarray) -> np.ndarray:
        """Most of the photo (70-100% of each side): 512 photos seen whole every time would
        let the exposure estimator memorise each one instead of learning what exposure looks
        like; a window keeps the whole-picture statistics and varies them."""
        h, w = photo.shape[:2]
        win_h = max(1, round(h * self.rng.uniform(0.7, 1.0)))
        win_w = max(1, round(w * self.rng.uniform(0.7, 1.0)))
        top = self.rng.randrange(h - win_h + 1)
        left = self.rng.randrange(w - win_w + 1)
        return photo[top : top + win_h, left : left + win_w]

    def _random_crop(self, photo: np.ndarray) -> np.ndarray:
        h, w = photo.shape[:2]
        if h < self.crop or w < self.crop:
            pad_h, pad_w = max(0, self.crop - h), max(0, self.crop - w)
            photo = np.pad(photo, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
            h, w = photo.shape[:2]
        top = self.rng.randrange(h - self.crop + 1)
        left = self.rng.randrange(w - self.crop + 1)
        return np.ascontiguousarray(photo[top : top + self.crop, left : left + self.crop])
