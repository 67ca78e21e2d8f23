"""Training hyper-parameters, with the shipped recipe and a tiny preset for tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from model import GeneratorConfig
from training.degrade import CameraSampler


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run does, saved inside its checkpoints.

    Photos are read at the generator's working size, the size the service sees them at, so
    there is no separate size to keep in step with it.
    """

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    d_channels: int = 16
    d_layers: int = 4  # 4 layers: a 142 px field of view, as the poster recommends
    crop: int = 256
    batch_size: int = 8
    steps: int = 6000
    lr_g: float = 2e-4  # pix2pix's Adam settings
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_adv: float = 1.0
    lambda_content: float = 100.0  # pix2pix's L1 weight
    lambda_perceptual: float = 10.0
    # Auxiliary L1 on the estimated EV (stops): it teaches the exposure head quickly what the
    # image losses only hint at.
    lambda_ev: float = 4.0
    adversarial: bool = True
    ema_decay: float = 0.999
    # How overexposure is drawn: the only place its settings and their defaults live.
    camera: CameraSampler = field(default_factory=CameraSampler)
    # Share of samples from real bracket pairs, when a bracket folder is given.
    bracket_prob: float = 0.2
    # Share of samples whose true EV is given to the model, as a client's `ev` would be; the
    # rest train the blind path, where the head's own estimate takes its place.
    ev_given_prob: float = 0.5
    log_every: int = 25
    sample_every: int = 500
    save_every: int = 250
    seed: int = 0

    def replace(self, **changes: object) -> TrainConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    "tiny": TrainConfig(
        generator=GeneratorConfig(base_channels=4, max_channels=8, depth=3, working_size=64),
        d_channels=4,
        d_layers=2,
        crop=32,
        batch_size=2,
        steps=4,
        log_every=1,
        sample_every=2,
        save_every=2,
    ),
}
