"""Service settings: one typed object read from EXPOSURE_* environment variables."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from model.checkpoint import SHIPPED_CHECKPOINT
from model.estimator import SHIPPED_ESTIMATOR

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = SHIPPED_CHECKPOINT
DEFAULT_ESTIMATOR = SHIPPED_ESTIMATOR
_DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


class Settings(BaseSettings):
    """Everything the service can be told from outside; each field is EXPOSURE_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="EXPOSURE_", frozen=True)

    checkpoint: Path = Field(DEFAULT_CHECKPOINT, description="generator checkpoint to serve")
    estimator_checkpoint: Path = Field(
        DEFAULT_ESTIMATOR, description="exposure estimator for requests without an ev"
    )
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    precision: Literal["auto", "bf16", "fp16", "tf32", "fp32"] = Field(
        "auto",
        description="arithmetic on CUDA: auto (= bf16), bf16, fp16 (autocast), tf32, fp32; "
        "the CPU always runs fp32",
    )
    max_batch_size: int = Field(8, ge=1, le=256, description="images per forward pass")
    inference_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="forward passes at once; 0: one on CUDA, one per core on the CPU (up to 8)",
    )
    max_wait_ms: float = Field(10.0, ge=0, le=10_000, description="batch gathering window")
    max_queue: int = Field(64, ge=1, le=100_000, description="queued images before 503")
    max_upload_mb: float = Field(50.0, gt=0, le=10_000, description="request body limit")
    max_pixels: int = Field(50_000_000, ge=1, description="width x height limit")
    request_timeout_s: float = Field(60.0, gt=0, le=3600, description="deadline per request")
    cpu_threads: int = Field(
        0,
        ge=0,
        le=1024,
        description="decode/resize/encode jobs at once; 0: one per core, less one for a CPU model",
    )
    drain_delay_s: float = Field(
        5.0, ge=0, le=3600, description="on SIGTERM, seconds of /readyz 503 while still serving"
    )
    # Past the 60 s request deadline: a request taken at the end of the drain delay still ends.
    shutdown_timeout_s: float = Field(
        70.0, gt=0, le=3600, description="after the drain delay, seconds before a forced exit"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # NoDecode: a comma-separated list is read by _split_list, not as JSON only.
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (), repr=False, description="Bearer keys; empty: no key needed"
    )
    public_probes: bool = Field(True, description="/healthz, /readyz, /metrics need no key")
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="origins allowed by CORS; empty: no CORS headers at all"
    )

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        value = value.strip().lower()
        if not _DEVICE_PATTERN.fullmatch(value):
            raise ValueError(
                f"EXPOSURE_DEVICE={value!r} is not valid; accepted: auto, cpu, cuda, cuda:N"
            )
        return value

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text.startswith("["):
            return tuple(part.strip() for part in text.split(",") if part.strip())
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ValueError("accepted: comma-separated values, or a JSON list of strings")
        return tuple(item.strip() for item in items if item.strip())

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once (tests call get_settings.cache_clear())."""
    return Settings()
