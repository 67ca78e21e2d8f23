"""What each GPU-check section runs: the CUDA sizes, or a short stand-in on the CPU."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Plan:
    """What each section runs: the CUDA sizes, or a short stand-in on the CPU."""

    device: str
    precisions: list[str]
    concurrency: list[int]
    requests: int
    max_seconds: float
    fullres_args: list[str]
    train_steps: int
    torchrun_steps: int
    train_args: list[str]


def cuda_plan(device: str) -> Plan:
    return Plan(
        device=device,
        precisions=["fp16", "fp32"],
        concurrency=[1, 16, 64],
        requests=64,
        max_seconds=30.0,
        # The in-process stage breakdown runs on the CPU only: the README has it.
        fullres_args=["--small-requests", "8", "--large-requests", "3", "--no-stages"],
        train_steps=500,
        torchrun_steps=100,
        train_args=["--crop", "256", "--batch-size", "8"],  # the shipped recipe's model
    )


def cpu_plan() -> Plan:
    return Plan(
        device="cpu",
        precisions=["fp32"],  # the CPU always runs fp32
        concurrency=[1, 4],
        requests=4,
        max_seconds=20.0,
        fullres_args=["--small-requests", "1", "--large-requests", "1", "--no-stages"],
        train_steps=4,
        torchrun_steps=2,
        train_args=["--preset", "tiny", "--crop", "32", "--batch-size", "2"],
    )
