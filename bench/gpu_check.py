"""The GPU check: CUDA tests, serving and full-resolution benchmarks on CUDA, AMP training.

    bench/gpu_check                              # sets up .venv-gpu, then runs this
    python bench/gpu_check.py [--out runs/gpu_check.md]

Writes every table to one markdown file (and prints it). Where torch sees no CUDA device, each
CUDA section says so and why, and a short CPU run of the same section stands in, so that the
script itself is exercised on any machine (those CPU figures are no benchmark).
Each section runs in its own subprocesses with a time limit; one that fails is reported and
the others still run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import torch
from harness import (
    REPO_ROOT,
    batch_buckets,
    batch_summary,
    checkpoint_path,
    drive,
    exposure_server,
    jpeg_bytes,
    synthetic_photo,
)
from PIL import Image

_INFERENCE_SUM = re.compile(r"^exposure_inference_duration_seconds_sum ([0-9.e+-]+)$", re.M)


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


def inference_seconds(url: str) -> float:
    """Total seconds the worker has spent in forward passes (its Prometheus histogram sum)."""
    found = _INFERENCE_SUM.search(httpx.get(url + "/metrics", timeout=10).text)
    return float(found.group(1)) if found else 0.0


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


def section_tests() -> list[str]:
    """The tests marked gpu (skipped by pytest itself where there is no CUDA device)."""
    args = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider"]
    result = subprocess.run(
        args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    output = (result.stdout + result.stderr).strip()
    command = " ".join(["python", *args[1:]])
    if result.returncode != 0:
        raise RuntimeError(f"`{command}` exited {result.returncode}:\n{output[-3000:]}")
    return [f"`{command}`", "", "```", *output.splitlines()[-25:], "```"]


def section_serving(plan: Plan, cuda: bool) -> list[str]:
    """Batching on and off, each precision, each concurrency: rate, latency, GPU use."""
    width, height = 776, 517
    body = jpeg_bytes(synthetic_photo(width, height))
    checkpoint = checkpoint_path(None)
    header = [
        f"{width}x{height} JPEG ({len(body)} bytes), device {plan.device}, at least "
        f"{plan.requests} requests per level (2x the concurrency if more), cap {plan.max_seconds:g}"
        " s. Forward share: seconds in forward passes (the worker's "
        "`exposure_inference_duration_seconds`, synchronized by the copy back) over wall time.",
        "",
        "| batching | precision | conc. | requests | images/s | p50 s | p99 s | batch size "
        "(mean, counts) | GPU memory MiB | GPU util. | forward share |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    rows: list[str] = []
    for precision in plan.precisions:
        for batching in ("on", "off"):
            env = {"EXPOSURE_DEVICE": plan.device, "EXPOSURE_PRECISION": precision}
            if batching == "off":
                env["EXPOSURE_MAX_BATCH_SIZE"] = "1"
            baseline = gpu_memory_used_mib() if cuda else 0.0
            server = exposure_server(checkpoint, env)
            try:
                server.start(300)
                drive(server.url + "/correct", body, 1, 3, 60)  # warm-up, not counted
                for concurrency in plan.concurrency:
                    requests = max(plan.requests, 2 * concurrency)
                    buckets, forward = batch_buckets(server.url), inference_seconds(server.url)
                    with GpuSampler(cuda, baseline_mib=baseline) as gpu:
                        result = drive(
                            server.url + "/correct", body, concurrency, requests, plan.max_seconds
                        )
                    forward = inference_seconds(server.url) - forward
                    batches = batch_summary(buckets, batch_buckets(server.url))
                    done = len(result.latencies)
                    failed = f" ({result.errors} failed)" if result.errors else ""
                    rows.append(
                        f"| {batching} | {precision} | {concurrency} | {done}{failed} "
                        f"| {done / result.wall_s:.2f} | {result.percentile(50):.3f} "
                        f"| {result.percentile(99):.3f} | {batches} | {gpu.peak_mib()} "
                        f"| {gpu.mean_utilization()} | {forward / result.wall_s:.0%} |"
                    )
                    print(rows[-1], flush=True)
            finally:
                server.stop()
    return header + rows


def section_fullres(plan: Plan) -> list[str]:
    args = [sys.executable, "bench/fullres_bench.py", "--device", plan.device, *plan.fullres_args]
    output = run(args, 420)
    return [f"`{' '.join(args[1:])}`", "", *output.strip().splitlines()]


def write_photos(folder: Path, count: int = 24) -> None:
    """Smooth random photos (upsampled noise), enough variety for a short training run."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        low = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        photo = Image.fromarray(low).resize((384, 288), Image.Resampling.BICUBIC)
        photo.save(folder / f"photo{i:02d}.jpg", quality=92)


def train_help() -> str:
    return run([sys.executable, "-m", "training.train", "--help"], 120)


def amp_in_use(plan: Plan, amp_flags: list[str]) -> str:
    """What the training run does about mixed precision, in words."""
    if plan.device == "cpu":
        return "n/a (CPU)"
    if amp_flags:
        return " ".join(amp_flags)
    if "torch.autocast" in (REPO_ROOT / "training" / "trainer.py").read_text():
        return "the trainer's own autocast"
    return "none: the trainer has no autocast"


def section_training(plan: Plan, cuda: bool) -> list[str]:
    """A run of plan.train_steps with AMP where the CLI has it, and one through torchrun."""
    amp = [flag for flag in ("--amp",) if flag in train_help()]
    amp_note = amp_in_use(plan, amp)
    lines = [
        "| launcher | steps | AMP | seconds | steps/s | GPU memory MiB | last losses |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="gpu-check-train-") as tmp:
        photos = Path(tmp) / "photos"
        write_photos(photos)
        torchrun = str(Path(sys.executable).parent / "torchrun")
        launchers = {
            "python -m training.train": (
                [sys.executable, "-m", "training.train"],
                plan.train_steps,
            ),
            "torchrun --nproc-per-node 1": (
                [torchrun, "--standalone", "--nproc-per-node", "1", "-m", "training.train"],
                plan.torchrun_steps,
            ),
        }
        for name, (launcher, steps) in launchers.items():
            out = Path(tmp) / name.split()[0]
            args = [*launcher, "--data", str(photos), "--out", str(out), "--steps", str(steps)]
            args += ["--device", plan.device, *plan.train_args, *amp]
            baseline = gpu_memory_used_mib() if cuda else 0.0
            began = time.perf_counter()
            with GpuSampler(cuda, baseline_mib=baseline) as gpu:
                run(args, 480)
            wall = time.perf_counter() - began
            records = [
                json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
            ]
            last = records[-1]
            losses = ", ".join(
                f"{k} {v:.3f}" for k, v in last.items() if k not in ("step", "time_s")
            )
            lines.append(
                f"| {name} | {last['step']} | {amp_note} "
                f"| {wall:.0f} (training {last['time_s']:.0f}) "
                f"| {last['step'] / max(last['time_s'], 1e-9):.1f} | {gpu.peak_mib()} | {losses} |"
            )
            print(lines[-1], flush=True)
    lines += ["", f"24 generated 384x288 photos; arguments `{' '.join(plan.train_args + amp)}`"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="runs/gpu_check.md", help="markdown file for the tables")
    parser.add_argument("--device", default="cuda", help="the CUDA device (cuda or cuda:N)")
    args = parser.parse_args()
    started = time.perf_counter()
    reason = cuda_unavailable_reason()
    cuda = reason is None
    plan = cuda_plan(args.device) if cuda else cpu_plan()
    standin = "" if cuda else f"CUDA: skipped, {reason}. Below: a short CPU run of the same step."
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: list[str] = ["# GPU check", ""]
    if not cuda:
        report += [f"**{standin}** Its figures are no benchmark.", ""]
    report += section_environment(cuda)
    sections: dict[str, Callable[[], list[str]]] = {
        "CUDA tests (`pytest -m gpu`)": section_tests,
        "Serving (`/correct`, batching on and off)": lambda: section_serving(plan, cuda),
        "Full resolution (`bench/fullres_bench.py`)": lambda: section_fullres(plan),
        "Training": lambda: section_training(plan, cuda),
    }
    failures = 0
    for title, body in sections.items():
        print(f"\n== {title}", flush=True)
        section_began = time.perf_counter()
        report += ["", f"## {title}", ""]
        if standin:
            report += [f"_{standin}_", ""]
        try:
            report += body()
        except Exception as exc:  # reported; the next section still runs
            failures += 1
            report += ["FAILED:", "", "```", str(exc)[-3000:], "```"]
        report += ["", f"({time.perf_counter() - section_began:.0f} s)"]
        out.write_text("\n".join(report) + "\n")
    report += ["", f"Total: {time.perf_counter() - started:.0f} s, {failures} section(s) failed."]
    out.write_text("\n".join(report) + "\n")
    print("\n" + out.read_text())
    print(f"written to {out}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
