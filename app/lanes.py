"""How many forward passes run at once (lanes), and torch's threads in each."""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Auto lanes on the CPU stop here: each holds its own activations (about 0.2 GB at 512 px).
MAX_AUTO_CPU_LANES = 8


@dataclass(frozen=True)
class Lanes:
    """How many forward passes may run at once, and torch's intra-op threads in each
    (0: leave torch's own setting, as on CUDA)."""

    count: int
    torch_threads: int


def plan_lanes(device: torch.device, requested: int = 0, cores: int | None = None) -> Lanes:
    """One lane on CUDA unless asked; on the CPU one per core (`requested` 0) or `requested`,
    torch's threads divided among them. A single-image pass gains little from a second thread
    when other threads run OpenMP too (each team beyond the cores throttles every team's
    spin-wait, so that all of them wake by futex on each parallel region), while a second
    image on that core nearly doubles throughput (docs/benchmarks.md)."""
    if device.type == "cuda":
        return Lanes(requested or 1, 0)
    cores = cores or torch.get_num_threads()
    count = requested or min(cores, MAX_AUTO_CPU_LANES)
    return Lanes(count, max(1, cores // count))
