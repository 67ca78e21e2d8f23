"""Serving checkpoints: safetensors weights with the generator config in the file's metadata.

Nothing is ever unpickled, so a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from model.artifact import read_header, write_artifact
from model.config import GeneratorConfig
from model.generator import Generator

# Version 4: the tone curve is the camera inverse for an EV plus a learned residual; a
# colour-coherent fill (older refused).
FORMAT = "exposure-generator/4"
# The shipped generator, which the service (EXPOSURE_CHECKPOINT) and the evaluation commands use
# by default.
SHIPPED_CHECKPOINT = (
    Path(__file__).resolve().parent.parent / "checkpoints" / "exposure-gan.safetensors"
)


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not describe a generator."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about itself, besides its weights."""

    path: Path
    config: GeneratorConfig
    metadata: dict[str, Any] = field(default_factory=dict)


def save_generator(
    path: str | Path, generator: Generator, metadata: dict[str, Any] | None = None
) -> None:
    """Writes the generator's weights and config (plus JSON-serialisable metadata) to `path`."""
    header = {
        "format": FORMAT,
        "generator_config": generator.config.to_json(),
        "metadata": json.dumps(metadata or {}, sort_keys=True),
    }
    write_artifact(path, generator, header)


def read_info(path: str | Path) -> CheckpointInfo:
    """Reads only the header of a checkpoint."""
    path = Path(path)
    header = read_header(path, CheckpointError, "checkpoint")
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a generator checkpoint (format {FORMAT!r} expected)")
    try:
        config = GeneratorConfig.from_json(header["generator_config"])
        metadata = json.loads(header.get("metadata", "{}"))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path} has an invalid generator config: {exc}") from exc
    return CheckpointInfo(path=path, config=config, metadata=metadata)


def load_generator(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[Generator, CheckpointInfo]:
    """Rebuilds the generator from its config, loads its weights on `device`, in eval mode."""
    info = read_info(path)
    generator = Generator(info.config)
    try:
        state = load_file(str(info.path), device="cpu")
        generator.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{info.path} does not match its config: {exc}") from exc
    generator.to(device).eval()
    generator.requires_grad_(False)
    return generator, info
