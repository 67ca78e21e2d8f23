"""The exposure-correction generator: architecture, checkpoints and full-resolution inference."""

from model.checkpoint import (
    CheckpointError,
    CheckpointInfo,
    load_generator,
    read_info,
    save_generator,
)
from model.config import GeneratorConfig
from model.exposure import (
    DEFAULT_GAMMA,
    DEFAULT_TAU,
    exposure_gain,
    overexpose,
    overexpose_uint8,
    trivial_inverse,
)
from model.generator import Generator
from model.pipeline import Canvas, Prediction, correct_images, from_canvas, to_canvas

__all__ = [
    "DEFAULT_GAMMA",
    "DEFAULT_TAU",
    "Canvas",
    "CheckpointError",
    "CheckpointInfo",
    "Generator",
    "GeneratorConfig",
    "Prediction",
    "correct_images",
    "exposure_gain",
    "from_canvas",
    "load_generator",
    "overexpose",
    "overexpose_uint8",
    "read_info",
    "save_generator",
    "to_canvas",
    "trivial_inverse",
]
