"""Training samples: camera-like overexposure of correctly exposed photos, and real brackets.

Each sample is (overexposed crop, target crop, EV in stops, thumbnail of the whole overexposed
picture). The thumbnail is made exactly as the service makes it (canvas at `working_size`,
then `model.generator.thumbnail`), so the exposure head learns from the whole picture as it
sees it in service, while the U-Net trains on crops of the same degraded picture.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from model import prepare
from model.generator import thumbnail
from training.degrade import (
    CameraSampler,
    downscale,
    estimate_pair_ev,
    overexpose_camera,
    store_jpeg,
)
from training.photos import find_photos, load_photo

if TYPE_CHECKING:  # training.real_curves reads its pairs with this module's load_brackets
    from training.real_curves import RealCurve

log = logging.getLogger(__name__)

Sample = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class BracketPair:
    """Two aligned frames of a real exposure bracket and the stops between them."""

    exposed: np.ndarray
    target: np.ndarray
    ev: float
    name: str = ""  # the files' shared stem


def load_brackets(
    root: str | Path, csv_path: str | Path | None, working_size: int
) -> list[BracketPair]:
    """Pairs `root/input/NAME.*` and `root/target/NAME.*`, read at `working_size`; EVs from
    `csv_path` (columns `name`, `ev`) where it lists the pair, else estimated from the frames."""
    root = Path(root)
    evs: dict[str, float] = {}
    if csv_path is not None:
        with Path(csv_path).open(newline="") as file:
            evs = {row["name"]: float(row["ev"]) for row in csv.DictReader(file)}
    targets = {p.stem: p for p in find_photos(root / "target")}
    pairs = []
    for path in find_photos(root / "input"):
        if path.stem not in targets:
            continue
        exposed = load_photo(path, max_side=working_size)
        target = load_photo(targets[path.stem], max_side=working_size)
        if exposed is None or target is None or exposed.shape != target.shape:
            log.warning("skipping bracket pair %s", path.stem)
            continue
        ev = evs.get(path.stem)
        pairs.append(
            BracketPair(
                exposed,
                target,
                estimate_pair_ev(exposed, target) if ev is None else ev,
                path.stem,
            )
        )
    return pairs


class ExposureDataset(Dataset[Sample]):
    """Samples drawn on the fly: a photo through `sampler`'s camera, or, `bracket_prob` of the
    time, a real bracket pair (its input stored as JPEG as often as photos are), or,
    `response_prob` of the time, a photo through a real camera's response measured on a bracket
    train pair (training.real_curves), the photo itself its target."""

    def __init__(
        self,
        photo_dirs: Sequence[str | Path],
        crop: int,
        sampler: CameraSampler,
        *,
        brackets: Sequence[BracketPair] = (),
        bracket_prob: float = 0.0,
        working_size: int,
        samples_per_epoch: int | None = None,
        seed: int = 0,
        responses: Sequence[RealCurve] = (),
        response_prob: float = 0.0,
        response_shift: tuple[float, float] = (-0.8, 0.5),
    ) -> None:
        paths = [p for d in photo_dirs for p in find_photos(d)]
        # Read at the working size: the size the service sees a photo at, and no larger.
        loaded = [load_photo(p, max_side=working_size) for p in paths]
        self.photos = [p for p in loaded if p is not None]
        if not self.photos:
            raise ValueError(f"no readable photos in {', '.join(map(str, photo_dirs))}")
        self.brackets = list(brackets)
        self.bracket_prob = bracket_prob if self.brackets else 0.0
        self.responses = list(responses)
        self.response_prob = response_prob if self.responses else 0.0
        self.response_shift = response_shift
        self.crop = crop
        self.working_size = working_size
        self.sampler = sampler
        self.length = samples_per_epoch or len(self.photos)
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Sample:
        rng, s = self.rng, self.sampler
        draw = rng.random()
        if draw < self.bracket_prob:
            pair = self.brackets[rng.randrange(len(self.brackets))]
            exposed, target = self._window(pair.exposed, pair.target)
            ev = pair.ev
        elif draw < self.bracket_prob + self.response_prob:
            (target,) = self._window(self.photos[rng.randrange(len(self.photos))])
            response = self.responses[rng.randrange(len(self.responses))]
            exposed, ev = response.overexpose(target, rng.uniform(*self.response_shift))
        else:
            (photo,) = self._window(self.photos[rng.randrange(len(self.photos))])
            wb = np.array([1.0 + rng.uniform(-s.white_balance, s.white_balance) for _ in "rgb"])
            ev = s.draw_ev(rng)
            exposed, target = overexpose_camera(photo, ev, s.draw_curve(rng), wb)
        if rng.random() < s.jpeg_prob:
            exposed = store_jpeg(exposed, rng.randint(*s.jpeg_quality))
        canvas = prepare(exposed, self.working_size)
        thumb = thumbnail(canvas.tensor[None])[0]
        inp, tgt = self._crop(exposed, target)
        x = torch.from_numpy(inp).permute(2, 0, 1).float() / 255.0
        y = torch.from_numpy(tgt).permute(2, 0, 1).float() / 255.0
        if rng.random() < 0.5:
            x, y, thumb = x.flip(-1), y.flip(-1), thumb.flip(-1)
        return x, y, torch.tensor(ev, dtype=torch.float32), thumb

    def _window(self, *images: np.ndarray) -> list[np.ndarray]:
        """Most of the picture (70-100% of each side), sometimes downscaled: the exposure head
        should learn what exposure looks like, not memorise each photo whole."""
        h, w = images[0].shape[:2]
        win_h = max(1, round(h * self.rng.uniform(0.7, 1.0)))
        win_w = max(1, round(w * self.rng.uniform(0.7, 1.0)))
        top = self.rng.randrange(h - win_h + 1)
        left = self.rng.randrange(w - win_w + 1)
        out = [img[top : top + win_h, left : left + win_w] for img in images]
        if self.rng.random() < self.sampler.downscale_prob:
            factor = self.rng.uniform(0.5, 1.0)
            out = [downscale(np.ascontiguousarray(img), factor) for img in out]
        return out

    def _crop(self, *images: np.ndarray) -> list[np.ndarray]:
        h, w = images[0].shape[:2]
        if h < self.crop or w < self.crop:
            pad = ((0, max(0, self.crop - h)), (0, max(0, self.crop - w)), (0, 0))
            images = tuple(np.pad(img, pad, mode="symmetric") for img in images)
            h, w = images[0].shape[:2]
        top = self.rng.randrange(h - self.crop + 1)
        left = self.rng.randrange(w - self.crop + 1)
        window = (slice(top, top + self.crop), slice(left, left + self.crop))
        return [np.ascontiguousarray(img[window]) for img in images]
