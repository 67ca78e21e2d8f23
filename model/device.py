"""Choosing the torch device from a name: the service and training resolve it the same way."""

from __future__ import annotations

import torch


def pick_device(name: str, local_rank: int | None = None) -> torch.device:
    """`auto` -> CUDA when present, else CPU; a named CUDA device must exist.

    A CUDA device always comes back with its index: `cuda` and `auto` mean device `local_rank`
    (a launcher's process on its own GPU) or 0, never the bare `cuda` that
    `torch.cuda.set_device` and DistributedDataParallel's `device_ids` reject.
    """
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        name = "cuda"
    device = torch.device(name)
    if device.type != "cuda":
        return device
    index = device.index if device.index is not None else (local_rank or 0)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index >= count:
        raise ValueError(
            f"device {name} (index {index}) was asked for but this machine has {count} CUDA "
            "device(s); accepted: auto, cpu, cuda or cuda:N with N below the device count"
        )
    return torch.device("cuda", index)
