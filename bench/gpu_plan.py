"""What each GPU-check section runs and how long it may take: the CUDA sizes, or a dry run.

A device command may run 10 minutes, so the whole check has one deadline (9 minutes by
default) and each section a budget inside it; a section that runs out is reported as such and
the next one still runs. The order puts first what must be known after a first GPU run: do
the CUDA tests pass, are real photos' outputs right, then speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Seconds per section; together at most the 540 s deadline, which leaves a device command
# a minute for its start and for copying the report back.
CUDA_BUDGETS = {
    "tests": 70.0,
    "photos": 60.0,
    "forward": 50.0,
    "serving": 200.0,
    "training": 150.0,
}


@dataclass
class Plan:
    """The sizes of each section, and the budgets."""

    device: str
    serving_precisions: list[str]
    forward_precisions: list[str]
    forward_batches: list[int]
    concurrency: list[int]
    requests: int
    level_seconds: float
    train_steps: int
    torchrun_steps: int
    train_args: list[str]
    photos: int | None = None  # real photos to compare (None: every one there is)
    budgets: dict[str, float] = field(default_factory=lambda: dict(CUDA_BUDGETS))

    @property
    def deadline_s(self) -> float:
        return sum(self.budgets.values())


def cuda_plan(device: str) -> Plan:
    return Plan(
        device=device,
        serving_precisions=["bf16", "fp32"],
        forward_precisions=["bf16", "fp16", "tf32", "fp32"],
        forward_batches=[1, 8],
        concurrency=[1, 16, 64],
        requests=64,
        level_seconds=12.0,
        train_steps=500,
        torchrun_steps=500,
        train_args=["--crop", "256", "--batch-size", "8"],  # the shipped recipe's model
    )


def dry_plan() -> Plan:
    """The same script end to end on the CPU, as small as each step allows (CI runs it)."""
    return Plan(
        device="cpu",
        serving_precisions=["fp32"],  # the CPU always runs fp32
        forward_precisions=["fp32"],
        forward_batches=[1],
        concurrency=[1, 2],
        requests=2,
        level_seconds=10.0,
        photos=2,
        train_steps=3,
        torchrun_steps=2,
        train_args=["--preset", "tiny", "--crop", "32", "--batch-size", "2", "--threads", "1"],
        budgets={
            "tests": 60.0,
            "photos": 60.0,
            "forward": 30.0,
            "serving": 90.0,
            "training": 60.0,
        },
    )
