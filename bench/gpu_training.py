"""The GPU check's training section: a short run with AMP, and one through torchrun."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from gpu_env import GpuSampler, gpu_memory_used_mib, run
from gpu_plan import Plan
from harness import REPO_ROOT
from PIL import Image


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
