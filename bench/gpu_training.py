"""The GPU check's training section: a run of the shipped recipe, and the same through torchrun."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from gpu_env import GpuSampler, gpu_memory_used_mib, run
from gpu_plan import Plan
from PIL import Image

from model import read_info


def write_photos(folder: Path, count: int = 24) -> None:
    """Smooth random photos (upsampled noise), enough variety for a short training run."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        low = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        photo = Image.fromarray(low).resize((384, 288), Image.Resampling.BICUBIC)
        photo.save(folder / f"photo{i:02d}.jpg", quality=92)


def section_training(plan: Plan, cuda: bool, budget_s: float) -> list[str]:
    """plan.train_steps with `python -m training.train` and plan.torchrun_steps with torchrun.

    steps/s is the trainer's own clock (each step ends with `torch.cuda.synchronize`, so it
    counts the GPU's work, not its launches), and the wall time the whole command's.
    """
    deadline = time.monotonic() + budget_s
    precision = "bf16 autocast" if cuda else "float32 (CPU)"
    lines = [
        "| launcher | steps | arithmetic | wall s | training s | steps/s | process group "
        "| GPU memory MiB | last losses |",
        "|---|---:|---|---:|---:|---:|---|---:|---|",
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
            args += ["--device", plan.device, *plan.train_args]
            baseline = gpu_memory_used_mib() if cuda else 0.0
            began = time.perf_counter()
            with GpuSampler(cuda, baseline_mib=baseline) as gpu:
                run(args, max(1.0, deadline - time.monotonic()))
            wall = time.perf_counter() - began
            records = [
                json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
            ]
            last = records[-1]
            losses = ", ".join(
                f"{k} {v:.3f}" for k, v in last.items() if k not in ("step", "time_s")
            )
            group = read_info(out / "generator.safetensors").metadata.get("process_group", "?")
            lines.append(
                f"| {name} | {last['step']} | {precision} | {wall:.0f} | {last['time_s']:.1f} "
                f"| {last['step'] / max(last['time_s'], 1e-9):.1f} | {group} | {gpu.peak_mib()} "
                f"| {losses} |"
            )
            print(lines[-1], flush=True)
    lines += ["", f"24 generated 384x288 photos; arguments `{' '.join(plan.train_args)}`"]
    return lines
