"""Choosing the torch device from a name: the service and training resolve it the same way."""

from __future__ import annotations

import torch


def pick_device(name: str, local_rank: int | None = None) -> torch.device:
    """`auto` -> CUDA when present (device `local_rank` when given), else CPU; a named CUDA
    device must exist."""
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda" if local_rank is None else f"cuda:{local_rank}")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ValueError(
                f"device {name} was asked for but this machine has {count} CUDA device(s); "
                "accepted: auto, cpu, cuda or cuda:N with N below the device count"
            )
    return device
