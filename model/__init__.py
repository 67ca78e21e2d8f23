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
    camera_inverse_uint8,
    camera_overexpose_uint8,
    exposure_gain,
    linear_to_srgb,
    overexpose,
    overexpose_uint8,
    srgb_to_linear,
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
    "camera_inverse_uint8",
    "camera_overexpose_uint8",
    "correct_images",
    "exposure_gain",
    "from_canvas",
    "linear_to_srgb",
    "load_generator",
    "overexpose",
    "overexpose_uint8",
    "read_info",
    "save_generator",
    "srgb_to_linear",
    "to_canvas",
    "trivial_inverse",
]
