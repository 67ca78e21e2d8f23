"""The exposure-correction generator and exposure estimator: architectures, checkpoints and
full-resolution inference."""

from model.checkpoint import (
    CheckpointError,
    CheckpointInfo,
    load_generator,
    read_info,
    save_generator,
)
from model.config import GeneratorConfig
from model.estimator import (
    EstimatorConfig,
    EstimatorError,
    ExposureEstimator,
    load_estimator,
    save_estimator,
)
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
from model.pipeline import (
    Canvas,
    EvChoice,
    Prediction,
    apply,
    choose_ev,
    correct_images,
    predict,
    prepare,
)

__all__ = [
    "DEFAULT_GAMMA",
    "DEFAULT_TAU",
    "Canvas",
    "CheckpointError",
    "CheckpointInfo",
    "EstimatorConfig",
    "EstimatorError",
    "EvChoice",
    "ExposureEstimator",
    "Generator",
    "GeneratorConfig",
    "Prediction",
    "apply",
    "camera_inverse_uint8",
    "camera_overexpose_uint8",
    "choose_ev",
    "correct_images",
    "exposure_gain",
    "linear_to_srgb",
    "load_estimator",
    "load_generator",
    "overexpose",
    "overexpose_uint8",
    "predict",
    "prepare",
    "read_info",
    "save_estimator",
    "save_generator",
    "srgb_to_linear",
    "trivial_inverse",
]
