"""The exposure estimator: how many stops a photo is overexposed, as a distribution, and the EV
to take back under it.

A small MLP over `model.exposure_features` gives probabilities over EV bins 0, 0.1, ..., MAX.
The EV used is the one with the least expected loss under that distribution, with a loss
shaped like what a wrong EV costs (docs/quality.md, "What blind correction can reach"): taking
back 0.2 stops too many costs the exact camera inverse 3.8 dB, 0.2 too few 1.4 dB. So an
uncertain photo gets a cautious EV, and a good photo, whose distribution piles up at 0, is left
alone. `overshoot` scales the cost of taking back too much; it is calibrated on collections held
out of training and saved with the weights.

Artifacts are safetensors with the config in their metadata, like the generator's: nothing is
ever unpickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from model.artifact import read_header, write_artifact
from model.exposure_features import FEATURE_COUNT, FEATURE_VERSION, canvas_features

FORMAT = "exposure-estimator/1"
# The shipped artifact, which the service (EXPOSURE_ESTIMATOR_CHECKPOINT) and the evaluation
# commands use by default.
SHIPPED_ESTIMATOR = (
    Path(__file__).resolve().parent.parent / "checkpoints" / "exposure-estimator.safetensors"
)

# PSNR lost by the exact camera inverse on C when told the true EV plus this error (stops):
# docs/quality.md, "What blind correction can reach" (86 eval photos).
_ERRORS = (-0.5, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.5)
_LOSS_DB = (5.73, 2.90, 1.43, 0.22, 0.0, 1.92, 3.84, 5.45, 7.97)


class EstimatorError(ValueError):
    """An estimator artifact is missing, unreadable, or not an estimator of these features."""


@dataclass(frozen=True)
class EstimatorConfig:
    """The estimator's shape and its decision, saved beside its weights."""

    features: int = FEATURE_COUNT
    feature_version: str = FEATURE_VERSION
    hidden: int = 128
    dropout: float = 0.0  # in training only
    bin_step: float = 0.1
    bins: int = 31  # EVs 0 ... 3.0
    # Scales the cost of taking back more stops than the photo is over (1: as measured).
    overshoot: float = 1.0
    # Scales the cost of taking back too few.
    undershoot: float = 1.0

    def __post_init__(self) -> None:
        if self.features < 1 or self.hidden < 1 or self.bins < 2 or self.bin_step <= 0:
            raise ValueError("features, hidden, bins and bin_step must be positive (bins >= 2)")
        if self.overshoot <= 0 or self.undershoot <= 0:
            raise ValueError("overshoot and undershoot must be positive")

    @property
    def max_ev(self) -> float:
        return self.bin_step * (self.bins - 1)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EstimatorConfig:
        data: dict[str, Any] = json.loads(text)
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown estimator config keys: {sorted(unknown)}")
        return cls(**data)


def error_cost(
    error: torch.Tensor, overshoot: float = 1.0, undershoot: float = 1.0
) -> torch.Tensor:
    """dB lost for taking back `error` stops more than the truth (negative: fewer), piecewise
    linear through the measured table and linear beyond it."""
    xs = torch.tensor(_ERRORS, dtype=error.dtype)
    ys = torch.tensor(_LOSS_DB, dtype=error.dtype)
    e = error.clamp(min=xs[0], max=xs[-1])
    i = torch.searchsorted(xs, e.contiguous(), right=True).clamp(1, len(_ERRORS) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    inside = y0 + (y1 - y0) * (e - x0) / (x1 - x0)
    low_slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    high_slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    beyond = torch.where(
        error < xs[0], (error - xs[0]) * low_slope, (error - xs[-1]).clamp(min=0) * high_slope
    )
    cost = inside + beyond
    return torch.where(error > 0, cost * overshoot, cost * undershoot)


class ExposureEstimator(nn.Module):
    """Features -> logits over EV bins; standardises its input with stored statistics."""

    def __init__(self, config: EstimatorConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("feature_mean", torch.zeros(config.features))
        self.register_buffer("feature_std", torch.ones(config.features))
        h = config.hidden
        self.net = nn.Sequential(
            nn.Linear(config.features, h),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(h, h),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(h, config.bins),
        )
        self._set_decision()

    def _set_decision(self) -> None:
        c = self.config
        centres = torch.arange(c.bins, dtype=torch.float32) * c.bin_step
        candidates = torch.arange(0, round(c.max_ev * 100) + 1, dtype=torch.float32) / 100
        cost = error_cost(candidates[:, None] - centres[None, :], c.overshoot, c.undershoot)
        self.register_buffer("bin_evs", centres, persistent=False)
        self.register_buffer("candidates", candidates, persistent=False)
        self.register_buffer("cost", cost, persistent=False)  # (candidates, bins)

    def set_costs(self, overshoot: float, undershoot: float = 1.0) -> None:
        """Changes the decision's asymmetry (calibration); the weights stay."""
        self.config = replace(self.config, overshoot=overshoot, undershoot=undershoot)
        self._set_decision()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features -> (N, bins) logits."""
        std = torch.as_tensor(self.feature_std)
        z = (features.float() - torch.as_tensor(self.feature_mean)) / std
        logits: torch.Tensor = self.net(z)
        return logits

    def distribution(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features -> (N, bins) probabilities."""
        return torch.softmax(self.forward(features), dim=1)

    def decide(self, probabilities: torch.Tensor) -> torch.Tensor:
        """(N, bins) probabilities -> (N,) the EV with the least expected cost."""
        expected = probabilities.float() @ torch.as_tensor(self.cost).T  # (N, candidates)
        return torch.as_tensor(self.candidates)[expected.argmin(dim=1)]

    @torch.inference_mode()
    def estimate(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features -> (N,) EVs to take back."""
        return self.decide(self.distribution(features))

    @torch.inference_mode()
    def estimate_canvas(self, tensor: torch.Tensor, low_height: int, low_width: int) -> float:
        """The EV to take back for the photo in one generator canvas."""
        features = canvas_features(tensor, low_height, low_width)[None]
        return round(float(self.decide(self.distribution(features))[0]), 2)


def save_estimator(
    path: str | Path, estimator: ExposureEstimator, metadata: dict[str, Any] | None = None
) -> None:
    """Writes the estimator's weights and config (plus JSON metadata) to `path`, atomically."""
    header = {
        "format": FORMAT,
        "estimator_config": estimator.config.to_json(),
        "metadata": json.dumps(metadata or {}, sort_keys=True),
    }
    write_artifact(path, estimator, header)


def load_estimator(path: str | Path) -> tuple[ExposureEstimator, dict[str, Any]]:
    """The estimator saved at `path` (on the CPU, in eval mode) and its metadata."""
    path = Path(path)
    header = read_header(path, EstimatorError, "estimator")
    if header.get("format") != FORMAT:
        raise EstimatorError(f"{path} is not an estimator artifact (format {FORMAT!r} expected)")
    try:
        config = EstimatorConfig.from_json(header["estimator_config"])
        metadata = json.loads(header.get("metadata", "{}"))
    except (KeyError, ValueError, TypeError) as exc:
        raise EstimatorError(f"{path} has an invalid estimator config: {exc}") from exc
    if config.feature_version != FEATURE_VERSION or config.features != FEATURE_COUNT:
        raise EstimatorError(
            f"{path} was trained on {config.feature_version} ({config.features} features); "
            f"this code computes {FEATURE_VERSION} ({FEATURE_COUNT})"
        )
    estimator = ExposureEstimator(config)
    try:
        estimator.load_state_dict(load_file(str(path), device="cpu"), strict=True)
    except (RuntimeError, ValueError) as exc:
        raise EstimatorError(f"{path} does not match its config: {exc}") from exc
    estimator.eval().requires_grad_(False)
    return estimator, metadata
