"""The GPU check's view of the machine: commands, nvidia-smi, why CUDA cannot run, GPU use."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from harness import REPO_ROOT


def run(args: Sequence[str], timeout_s: float, env: dict[str, str] | None = None) -> str:
    """Runs a command from the repository root; returns its output, or raises with its tail."""
    result = subprocess.run(
        list(args),
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(args)}` exited {result.returncode}:\n{output[-3000:]}")
    return output


def nvidia_smi(*query: str) -> str | None:
    """nvidia-smi's answer to a query, or None where there is no NVIDIA driver."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        return run(["nvidia-smi", *query], 20).strip()
    except (RuntimeError, subprocess.TimeoutExpired):
        return None


def cuda_unavailable_reason() -> str | None:
    """Why the CUDA sections cannot run here, or None when they can."""
    if torch.cuda.is_available():
        return None
    if nvidia_smi("-L") is None:
        return "no NVIDIA GPU: nvidia-smi is missing or sees no device"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU build (bench/gpu_check installs a CUDA one)"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable CUDA device"


@dataclass
class GpuSampler:
    """Samples the GPU's used memory and utilization with nvidia-smi while a block runs."""

    enabled: bool
    interval_s: float = 0.2
    baseline_mib: float = 0.0
    memory_mib: list[float] = field(default_factory=list)
    utilization: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> tuple[float, float] | None:
        answer = nvidia_smi(
            "--query-gpu=memory.used,utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"
        )
        if not answer:
            return None
        memory, utilization = (float(v) for v in answer.splitlines()[0].split(","))
        return memory, utilization

    def __enter__(self) -> GpuSampler:
        if self.enabled:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            sample = self._sample()
            if sample is not None:
                self.memory_mib.append(sample[0])
                self.utilization.append(sample[1])
            time.sleep(self.interval_s)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def peak_mib(self) -> str:
        return f"{max(self.memory_mib) - self.baseline_mib:.0f}" if self.memory_mib else "n/a"

    def mean_utilization(self) -> str:
        return f"{statistics.mean(self.utilization):.0f}%" if self.utilization else "n/a"


def gpu_memory_used_mib() -> float:
    answer = nvidia_smi("--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0")
    return float(answer.splitlines()[0]) if answer else 0.0


def section_environment(cuda: bool) -> list[str]:
    lines = [
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- commit: {git_commit()}",
        f"- torch {torch.__version__} (CUDA {torch.version.cuda})",
        f"- Python {platform.python_version()}",
        f"- CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    ]
    gpu = nvidia_smi("--query-gpu=name,driver_version,memory.total", "--format=csv,noheader")
    lines.append(f"- GPU: {gpu}" if gpu else "- GPU: none found")
    if cuda:
        lines.append(f"- torch sees: {torch.cuda.get_device_name(0)}")
    return lines


def git_commit() -> str:
    try:
        return run(["git", "rev-parse", "--short", "HEAD"], 20).strip()
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return "unknown"
