"""Settings from EXPOSURE_* variables, with validation that names the accepted values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import DEFAULT_CHECKPOINT, REPO_ROOT, Settings, get_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHECKPOINT", "DEVICE", "MAX_BATCH_SIZE", "MAX_WAIT_MS", "MAX_QUEUE"):
        monkeypatch.delenv(f"EXPOSURE_{name}", raising=False)
    settings = Settings()
    assert settings.checkpoint == DEFAULT_CHECKPOINT
    assert DEFAULT_CHECKPOINT == REPO_ROOT / "checkpoints" / "exposure-gan.safetensors"
    assert (settings.device, settings.max_batch_size, settings.max_wait_ms) == ("auto", 8, 10)
    assert (settings.max_queue, settings.max_upload_mb, settings.max_pixels) == (64, 50, 50_000_000)
    assert settings.request_timeout_s == 60


def test_environment_and_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPOSURE_MAX_BATCH_SIZE", "3")
    monkeypatch.setenv("EXPOSURE_DEVICE", "CUDA:1")
    get_settings.cache_clear()
    try:
        assert get_settings().max_batch_size == 3
        assert get_settings().device == "cuda:1"
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("EXPOSURE_DEVICE", "tpu", "auto, cpu, cuda, cuda:N"),
        ("EXPOSURE_MAX_BATCH_SIZE", "0", "greater than or equal to 1"),
        ("EXPOSURE_PRECISION", "fp8", "'auto', 'bf16', 'fp16', 'tf32' or 'fp32'"),
    ],
)
def test_bad_values_name_what_is_accepted(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()
