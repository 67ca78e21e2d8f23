"""Checkpoints: a round trip restores the same outputs; garbage is a CheckpointError."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model import CheckpointError, load_generator, read_info, save_generator
from tests.conftest import TINY, tiny_generator


def test_round_trip(tmp_path: Path) -> None:
    generator = tiny_generator()
    path = tmp_path / "g.safetensors"
    save_generator(path, generator, {"step": 7})
    loaded, info = load_generator(path, "cpu")
    assert info.config == TINY and info.metadata == {"step": 7}
    assert not loaded.training
    x = torch.rand(2, 3, 40, 24)
    assert torch.equal(loaded(x), generator(x))


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\xff" * 64])
def test_garbage_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_generator(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        read_info(tmp_path / "absent.safetensors")
