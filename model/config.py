"""The generator's shape, saved beside its weights so that loading never guesses."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal


@dataclass(frozen=True)
class GeneratorConfig:
    """Hyper-parameters that fix the generator's architecture and how it is run."""

    # Channels of the first down-sampling block; each deeper block doubles them up to max_channels.
    base_channels: int = 16
    max_channels: int = 128
    # Number of stride-2 down-sampling blocks; inputs are padded to a multiple of 2**depth.
    depth: int = 7
    # StyleGAN-style noise after every convolution, with a learnable strength that starts at zero.
    noise: bool = True
    spectral_norm: bool = False
    # How the down-sampling convolutions pad the picture's edge: zeros (the checkpoints from
    # before the option), or "reflect", which shows a convolution at the edge a continuation of
    # the picture instead of a black frame to respond to.
    padding: Literal["zeros", "reflect"] = "zeros"
    # Largest move of the fill's luminance logit from the physical estimate (model.tone), or
    # None for no bound (the checkpoints from before the option). Bounded, the fill cannot run
    # its sigmoid thousands of logits deep, where it answers nothing and no gradient reaches it.
    fill_luma_range: float | None = None
    # Largest side, in pixels, at which the generator looks at a photo; larger photos are
    # corrected at this size and the result is applied at full resolution (model/pipeline.py).
    working_size: int = 512
    # Knots of the tone curve, evenly spaced over the input's range.
    curve_knots: int = 32

    def __post_init__(self) -> None:
        if self.base_channels < 1 or self.max_channels < self.base_channels:
            raise ValueError("need 1 <= base_channels <= max_channels")
        if not 2 <= self.depth <= 10:
            raise ValueError("depth must be between 2 and 10")
        if self.padding not in ("zeros", "reflect"):
            raise ValueError("padding must be 'zeros' or 'reflect'")
        if self.fill_luma_range is not None and not 0 < self.fill_luma_range < math.inf:
            raise ValueError("fill_luma_range must be positive and finite (or None for no bound)")
        if not 2 <= self.curve_knots <= 256:
            raise ValueError("curve_knots must be between 2 and 256")
        if self.working_size < 2**self.depth or self.working_size % 2**self.depth:
            raise ValueError(
                f"working_size must be a positive multiple of 2**depth = {2**self.depth}"
            )

    def channels(self, level: int) -> int:
        """Channels of the feature map after `level + 1` down-sampling blocks."""
        return int(min(self.base_channels * 2**level, self.max_channels))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GeneratorConfig:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown generator config keys: {sorted(unknown)}")
        return cls(**data)
